"""Bad input, as a hostile but honest user gives it: every bad invocation of ``python -m sslvit train`` is one line
on stderr with a clear exit status (2: refused, 1: training diverged, 130: interrupted), never a traceback or a
success; every bad construction of the library raises ``ValueError``/``TypeError`` at construction, naming the
field. The tables below are the fuzz test: add a row for every new case found."""
from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from sslvit import DataConfig, Run, TrainConfig, train
from sslvit.analysis.playground import Setting, retrain
from sslvit.beyond.memory import MemoryQueue
from sslvit.beyond.mix import Mixed
from sslvit.cli import main
from sslvit.vit.training import ViTTrainConfig

TINY = ["--patches", "64", "--global-size", "16", "--steps", "3", "--batch-size", "8"]

#: (extra flags, expected exit status, a word the one-line message must contain: the field, or the cause)
CLI_CASES = [
    # a configuration too large for the machine: refused before anything is allocated
    (["--batch-size", "1000000000"], 2, "images per step"),
    (["--batch-size", "10000000"], 2, "images per step"),
    (["--population", "100000000"], 2, "images per step"),
    (["--eval-batch", "100000000"], 2, "eval_batch"),
    (["--objective", "cl", "--queue", "1000000000"], 2, "memory queue"),
    (["--objective", "cl", "--batch-size", "200000"], 2, "images per step"),
    (["--steps", "1000000000", "--log-every", "1"], 2, "logged steps"),
    (["--patches", "1000000", "--global-size", "999996"], 2, "P = 1000000"),
    # bounded numbers
    (["--threads", str(2**40)], 2, "threads"),
    (["--threads", "1000000"], 2, "threads"),
    (["--threads", "0"], 2, "threads"),
    (["--seed", str(2**70)], 2, "seed"),
    (["--seed", "-1"], 2, "seed"),
    (["--log-every", "0"], 2, "log_every"),
    (["--steps", "-1"], 2, "steps"),
    (["--batch-size", "0"], 2, "batch_size"),
    (["--eval-batch", "0"], 2, "eval_batch"),
    (["--objective", "cl", "--eval-batch", "1"], 2, "eval_batch"),
    (["--mask-prob", "nan"], 2, "mask_prob"),
    (["--mask-prob", "1"], 2, "mask_prob"),
    (["--lr", "inf"], 2, "lr"),
    (["--lr", "-1"], 2, "lr"),
    (["--objective", "cl", "--tau", "0"], 2, "tau"),
    (["--init-std", "-1"], 2, "init_std"),
    (["--init-std", "nan"], 2, "init_std"),
    (["--low", "1e200", "--high", "1e200"], 2, "low"),
    (["--low", "2", "--high", "1"], 2, "low"),
    (["--scale-law", "lognormal", "--scale-param", "1e6"], 2, "scale_param"),
    (["--scale-law", "pareto", "--scale-param", "1.0000001"], 2, "scale_param"),
    (["--scale-law", "sign", "--scale-param", "2"], 2, "scale_param"),
    (["--scale-param", "0.5"], 2, "scale_param"),
    (["--global-size", "64"], 2, "global_size"),        # covers the whole image: no local area
    (["--local-size", "7"], 2, "local_size"),
    (["--layout", "grid", "--local-size", "2", "--global-size", "16"], 2, "local_size"),
    (["--kappa-s", "0.5"], 2, "kappa"),
    (["--objective", "cl", "--negatives", "8"], 2, "negatives"),
    (["--device", "cuda:7"], 2, "device"),
    (["--device", "tpu"], 2, "device"),
    # options that do nothing for the objective given
    (["--tau", "0.5"], 2, "tau"),
    (["--negatives", "3"], 2, "negatives"),
    (["--mix-scale", "3"], 2, "mix_scale"),
    (["--mix", "0.5"], 2, "mix"),
    (["--cl-mask-prob", "0.3"], 2, "cl_mask_prob"),
    (["--queue", "4"], 2, "queue"),
    (["--objective", "mix", "--queue", "4"], 2, "queue"),
    (["--objective", "mix", "--mix", "2"], 2, "weight"),
    (["--objective", "mix", "--mix-scale", "0"], 2, "scale"),
    # saturation and overflow are divergence, with the likely cause named
    (["--lr", "1e30"], 1, "step size"),
    (["--lr", "1e300"], 1, "step size"),
    (["--objective", "cl", "--tau", "1e-300"], 1, "temperature"),
    (["--init-std", "1e300"], 1, "init_std"),
    # bad flags (argparse)
    (["--batch-size", "1e9"], 2, "batch-size"),
    (["--objective", "byol"], 2, "objective"),
    (["--dtype", "float16"], 2, "dtype"),
    (["--steps"], 2, "steps"),
]


def run_cli(argv, capsys):
    """``main(argv)`` → (exit status, stdout, stderr); any exception that escapes ``main`` fails the test."""
    try:
        code = main(argv)
    except SystemExit as e:      # argparse's errors
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("flags, status, word", CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_bad_invocation_is_one_clear_line(flags, status, word, capsys, monkeypatch):
    """On a machine with 4 GB free (whatever this one has)."""
    monkeypatch.setattr("sslvit.core.budget.available_memory", lambda device="cpu": 4 * 2**30)
    threads = torch.get_num_threads()
    start = time.perf_counter()
    try:
        code, out, err = run_cli(["train", *TINY, *flags], capsys)
    finally:
        torch.set_num_threads(threads)
    assert code == status, (code, err)
    assert err.count("\n") == 1 and err.endswith("\n"), err              # one line, no traceback
    assert "Traceback" not in err and "unexpected error" not in err, err
    assert word in err or word.replace("_", "-") in err, err          # the field, or its flag
    assert out == "", out                                                # nothing reported as a result
    assert time.perf_counter() - start < 30                              # refused, not attempted


def _cli(*flags: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.Popen([sys.executable, "-m", "sslvit", "train", *TINY, *flags], env=env, text=True, **kw)


def test_too_large_under_an_address_space_limit():
    """Under ``ulimit -v`` (8 GB) a batch that the machine's free memory would allow is refused before allocating."""
    import resource

    limit = 8 * 2**30

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))

    r = subprocess.run([sys.executable, "-m", "sslvit", "train", *TINY, "--batch-size", "10000000"],
                       capture_output=True, text=True, timeout=120, preexec_fn=cap)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "too large" in r.stderr, r.stderr


def test_closed_pipe_and_full_disk_are_one_line(tmp_path: Path):
    """``--json | head -c 1`` and ``--json > /dev/full``: one line on stderr, exit status 1, no traceback."""
    p = _cli("--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()                                                     # the reader is gone before we write
    err = p.stderr.read()
    assert p.wait(timeout=120) == 1, err
    assert err.count("\n") == 1 and "cannot write the output" in err, err
    if os.path.exists("/dev/full"):
        with open("/dev/full", "w") as full:
            r = subprocess.run([sys.executable, "-m", "sslvit", "train", *TINY, "--json"], stdout=full,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        assert r.returncode == 1 and r.stderr.count("\n") == 1 and "No space left" in r.stderr, r.stderr


@pytest.mark.parametrize("when", ["loading", "training"])
def test_ctrl_c_is_one_line_and_130(when):
    """SIGINT while the library loads or while it trains: one line, exit 130; with --json the history so far."""
    p = _cli("--steps", "1000000", "--log-every", "100", "--json", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if when == "loading":
        time.sleep(0.2)
    else:                                                    # wait until training runs (a line is not yet printed)
        deadline = time.time() + 60
        while time.time() < deadline and p.poll() is None:
            time.sleep(0.5)
            if time.time() > deadline - 50:
                break
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err, err
    if when == "training":
        import json

        summary = json.loads(out.strip().splitlines()[-1])
        assert summary["interrupted_at_step"] >= 1 and summary["history"][0]["step"] == 0


# ---- the library: refused at construction, the field named ----------------------------------------------------

def _train(**kw):
    return train(Run(DataConfig(patches=16, global_size=8, local_size=4), TrainConfig(steps=1, batch_size=4)), **kw)


LIBRARY_CASES = [
    (lambda: Run(None), TypeError, "data"),
    (lambda: Run("mae"), TypeError, "data"),
    (lambda: Run(TrainConfig(), DataConfig()), TypeError, "data"),
    (lambda: Run(DataConfig(), DataConfig()), TypeError, "train"),
    (lambda: DataConfig(grid_shape=(-8, -8), layout="grid", patches=64, global_size=16), ValueError, "grid_shape"),
    (lambda: DataConfig(grid_shape="88", layout="grid", patches=64, global_size=16), ValueError, "grid_shape"),
    (lambda: DataConfig(grid_shape=(8.9, 8.2), layout="grid", patches=64, global_size=16), ValueError, "grid_shape"),
    (lambda: DataConfig(low="a"), ValueError, "low"),
    (lambda: DataConfig(high=math.inf), ValueError, "high"),
    (lambda: DataConfig(patches=True), ValueError, "patches"),
    (lambda: DataConfig(patches=256.0), ValueError, "patches"),
    (lambda: DataConfig(global_size=256), ValueError, "global_size"),
    (lambda: DataConfig(allow_no_dominant=1), ValueError, "allow_no_dominant"),
    (lambda: DataConfig(scale_law="lognormal", scale_param=1e6), ValueError, "scale_param"),
    (lambda: DataConfig(scale_law="pareto", scale_param="2"), ValueError, "scale_param"),
    (lambda: TrainConfig(lr=True), ValueError, "lr"),
    (lambda: TrainConfig(lr="1e3"), ValueError, "lr"),
    (lambda: TrainConfig(steps=True), ValueError, "steps"),
    (lambda: TrainConfig(steps=3.0), ValueError, "steps"),
    (lambda: TrainConfig(seed=2**70), ValueError, "seed"),
    (lambda: TrainConfig(seed=-1), ValueError, "seed"),
    (lambda: TrainConfig(tau=0.5), ValueError, "tau"),
    (lambda: TrainConfig(negatives=3), ValueError, "negatives"),
    (lambda: TrainConfig(objective="cl", negatives=True), ValueError, "negatives"),
    (lambda: TrainConfig(population=0), ValueError, "population"),
    (lambda: TrainConfig(init_std=math.nan), ValueError, "init_std"),
    (lambda: TrainConfig(objective=3), ValueError, "objective"),
    (lambda: MemoryQueue(queue=-1), ValueError, "queue"),
    (lambda: MemoryQueue(queue=2.5), ValueError, "queue"),
    (lambda: Mixed(weight=True), ValueError, "weight"),
    (lambda: Mixed(cl_mask_prob=0.0), ValueError, "cl_mask_prob"),
    (lambda: _train(dtype=torch.int64), ValueError, "dtype"),
    (lambda: _train(dtype="float64"), ValueError, "dtype"),
    (lambda: _train(dtype=torch.float16), ValueError, "dtype"),
    (lambda: _train(dtype=torch.complex128), ValueError, "dtype"),
    (lambda: _train(log_every=0), ValueError, "log_every"),
    (lambda: _train(log_every=2.0), ValueError, "log_every"),
    (lambda: _train(eval_batch=True), ValueError, "eval_batch"),
    (lambda: _train(progress="yes"), ValueError, "progress"),
    (lambda: _train(device="tpu"), ValueError, "device"),
    (lambda: train([]), ValueError, "runs"),
    (lambda: Setting(steps=True), ValueError, "steps"),
    (lambda: Setting(global_size=16.0), ValueError, "global_size"),
    (lambda: Setting(mask_prob=1.0), ValueError, "mask_prob"),
    (lambda: Setting(seed=-1), ValueError, "seed"),
    (lambda: retrain(Setting(steps=0), view_mask_prob=0.0), ValueError, "view_mask_prob"),
    (lambda: retrain("mae"), TypeError, "setting"),
    (lambda: ViTTrainConfig("mae", weight_decay=math.inf), ValueError, "weight_decay"),
    (lambda: ViTTrainConfig("mae", steps=True), ValueError, "steps"),
    (lambda: ViTTrainConfig("cl", symmetric=1), ValueError, "symmetric"),
    (lambda: ViTTrainConfig("mae", grad_clip=math.nan), ValueError, "grad_clip"),
]


@pytest.mark.parametrize("make, error, field", LIBRARY_CASES, ids=[c[2] + f"-{i}" for i, c in enumerate(LIBRARY_CASES)])
def test_bad_construction_names_the_field(make, error, field):
    with pytest.raises(error) as info:
        make()
    assert field in str(info.value), str(info.value)
    assert type(info.value) in (ValueError, TypeError)                 # ours, not one from deep inside torch


def test_numpy_numbers_are_accepted_and_stored_as_python_numbers():
    """NumPy scalars are accepted where their value is allowed, and a run trains the same with them."""
    data = DataConfig(patches=np.int64(16), global_size=np.int32(8), local_size=np.int64(4), low=np.float64(0.5))
    cfg = TrainConfig(lr=np.float64(10.0), steps=np.int64(2), batch_size=np.int64(4), seed=np.int64(3),
                      mask_prob=np.float32(0.5))
    assert type(data.patches) is int and type(cfg.steps) is int and type(cfg.lr) is float
    assert Setting(global_size=np.int64(16), steps=np.int64(0)).global_size == 16
    a = train(Run(data, cfg), log_every=1)
    b = train(Run(DataConfig(patches=16, global_size=8, local_size=4),
                  TrainConfig(lr=10.0, steps=2, batch_size=4, seed=3, mask_prob=float(np.float32(0.5)))), log_every=1)
    assert torch.equal(a.A, b.A) and torch.equal(a.B, b.B)


def test_the_unchanged_edge_cases_stay_right(capsys):
    """What was already right stays so: masking 0 and 1 refused, a sane run exits 0 and prints its table."""
    assert run_cli(["train", *TINY, "--mask-prob", "0"], capsys)[0] == 2
    code, out, err = run_cli(["train", *TINY], capsys)
    assert code == 0 and err == "" and "step" in out
