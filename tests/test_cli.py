"""Command line ``python -m sslvit train`` (also ``sslvit.cli.main(argv)``): the JSON contract, exit statuses,
one-line errors and the help text."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from sslvit import DataConfig, Run, TrainConfig, information_gap, sizes_from_kappa, train
from sslvit.cli import build_parser, main
from sslvit.core.metrics import METRICS

SMALL = ["--patches", "16", "--clusters", "3", "--global-size", "8", "--local-size", "2", "--batch-size", "8",
         "--threads", "1"]


def run_main(argv, capsys):
    """``main(argv)`` → (exit status, stdout, stderr); argparse errors exit through SystemExit."""
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err


def last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def check_contract(summary: dict, steps: list[int]) -> None:
    assert {"delta", "config", "final", "history"} <= set(summary)
    assert set(summary["final"]) == set(METRICS)
    assert [h["step"] for h in summary["history"]] == steps
    for h in summary["history"]:
        assert set(h) == {"step", *METRICS}
    assert summary["history"][-1] == {"step": steps[-1], **summary["final"]}


def test_subprocess_json_contract_matches_library():
    """`python -m sslvit train --json`: exit 0, last stdout line is the JSON contract, and its numbers are those of
    sslvit.train on the same configuration."""
    argv = [sys.executable, "-m", "sslvit", "train", *SMALL, "--steps", "10", "--log-every", "3", "--lr", "100",
            "--seed", "3", "--json"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    summary = last_json(proc.stdout)
    check_contract(summary, [0, 3, 6, 9, 10])
    assert summary["delta"] == pytest.approx(information_gap(16, 8, 2), abs=1e-12)
    assert summary["final"]["oracle_loss"] is not None and summary["final"]["attention_distance"] is None
    assert summary["config"]["data"]["global_size"] == 8 and summary["config"]["train"]["lr"] == 100.0
    traj = train(Run(DataConfig(patches=16, clusters=3, global_size=8, local_size=2),
                     TrainConfig(lr=100.0, steps=10, batch_size=8, seed=3)), log_every=3)
    for name in traj.history:
        assert [h[name] for h in summary["history"]] == pytest.approx(traj.history[name][:, 0].tolist(), abs=1e-12)


def test_cl_json_oracle_null_and_local_queries_on_global_area(capsys):
    """--objective cl --json: oracle_loss is null and local queries end on the global area (P = 64)."""
    argv = ["train", "--objective", "cl", "--patches", "64", "--global-size", "16", "--local-size", "4",
            "--steps", "60", "--lr", "5000", "--threads", "1", "--json"]
    code, out, _ = run_main(argv, capsys)
    assert code == 0
    summary = last_json(out)
    check_contract(summary, [0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 60])  # default log_every = steps // 10
    assert summary["final"]["oracle_loss"] is None
    assert all(h["oracle_loss"] is None for h in summary["history"])
    assert summary["final"]["global_area_attention"] > 0.9 > 0.05 > summary["final"]["own_area_attention"]


def test_mae_json_local_queries_on_own_area(capsys):
    """--objective mae --json: oracle_loss is a number and local queries end on their own area (P = 64)."""
    argv = ["train", "--objective", "mae", "--patches", "64", "--global-size", "16", "--local-size", "4",
            "--steps", "60", "--lr", "1000", "--threads", "1", "--json"]
    code, out, _ = run_main(argv, capsys)
    assert code == 0
    final = last_json(out)["final"]
    assert isinstance(final["oracle_loss"], float) and final["attention_distance"] is None
    assert final["own_area_attention"] > 0.5 > 0.05 > final["global_area_attention"]


def test_grid_layout_reports_attention_distance(capsys):
    """--layout grid: attention_distance is a number at every logged step (uniform attention at step 0)."""
    argv = ["train", "--layout", "grid", "--patches", "16", "--global-size", "8", "--local-size", "4",
            "--steps", "4", "--log-every", "2", "--lr", "100", "--threads", "1", "--json"]
    code, out, _ = run_main(argv, capsys)
    assert code == 0
    history = last_json(out)["history"]
    assert [h["step"] for h in history] == [0, 2, 4]
    assert all(isinstance(h["attention_distance"], float) and math.isfinite(h["attention_distance"]) for h in history)
    # step 0: uniform attention on a 4 × 4 grid = mean distance between two cells
    cells = [(r, c) for r in range(4) for c in range(4)]
    uniform = sum(math.dist(a, b) for a in cells for b in cells) / 256
    assert history[0]["attention_distance"] == pytest.approx(uniform, abs=1e-12)


def test_kappa_flags_choose_sizes(capsys):
    """--kappa-s/--kappa-c pick the sizes of sizes_from_kappa."""
    argv = ["train", "--patches", "64", "--kappa-s", "0.5", "--kappa-c", "0.34", "--steps", "1", "--lr", "10",
            "--threads", "1", "--json"]
    code, out, _ = run_main(argv, capsys)
    assert code == 0
    data = last_json(out)["config"]["data"]
    assert (data["global_size"], data["local_size"]) == sizes_from_kappa(64, 0.5, 0.34)


def test_table_output_without_json(capsys):
    """Without --json: a header line, then a table with one row per logged step."""
    code, out, _ = run_main(["train", *SMALL, "--steps", "4", "--log-every", "2", "--lr", "10"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("MAE") and "P=16" in lines[0]
    assert lines[1].split()[0] == "step" and "own_attn" in lines[1]
    assert [line.split()[0] for line in lines[3:]] == ["0", "2", "4"]


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "--bogus"], "--bogus"),
        (["train", "--objective", "byol"], "--objective"),
        (["train", "--layout", "hex"], "--layout"),
        (["train", "--patches", "abc"], "--patches"),
        (["train", "--local-size", "5"], "--local-size=5"),               # P = 256, C_s = 64: 192 % 5 != 0
        (["train", "--local-size", "64"], "--local-size=64"),              # not smaller than the global area
        (["train", "--mask-prob", "1.5"], "--mask-prob=1.5"),
        (["train", "--lr", "-1"], "--lr=-1"),
        (["train", "--threads", "0"], "--threads=0"),
        (["train", "--steps", "5", "--log-every", "0"], "log-every"),
        (["train", "--kappa-s", "0.5"], "kappa"),
        (["train", "--kappa-s", "0.5", "--kappa-c", "0.25", "--global-size", "16"], "kappa"),
        (["train", "--layout", "grid", "--patches", "60", "--global-size", "20"], "patches"),
        ([], "command"),
    ],
)
def test_bad_flags_exit_2_with_one_line(argv, needle, capsys):
    """Bad flags or an invalid configuration: exit status 2, nothing on stdout, ONE line on stderr naming the problem."""
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1
    assert needle in err and "error" in err


def test_bad_flag_exit_2_subprocess():
    """The real module entry point exits with status 2 and one stderr line for an invalid configuration."""
    proc = subprocess.run([sys.executable, "-m", "sslvit", "train", "--local-size", "5"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert proc.stdout == "" and proc.stderr.count("\n") == 1 and "local_size" in proc.stderr


def test_diverged_training_exits_1(capsys):
    """A diverging run (CL, τ = 1e-300, lr = 1e20) exits with status 1 and one stderr line with the step."""
    argv = ["train", *SMALL, "--objective", "cl", "--tau", "1e-300", "--lr", "1e20", "--steps", "5"]
    code, out, err = run_main(argv, capsys)
    assert code == 1
    assert err.count("\n") == 1 and "diverged" in err and "step 1" in err and "smaller step size" in err


FLAGS = ["--objective", "--patches", "--clusters", "--global-size", "--local-size", "--kappa-s", "--kappa-c",
         "--layout", "--low", "--high", "--mask-prob", "--steps", "--lr", "--batch-size", "--population",
         "--negatives", "--tau", "--optimizer", "--seed", "--log-every", "--eval-batch", "--dtype", "--threads", "--device",
         "--progress", "--json",
         # beyond the paper (chapters 8-11)
         "--allow-no-dominant", "--scale-law", "--scale-param", "--queue", "--mix", "--mix-scale", "--cl-mask-prob",
         "--init-std"]


def test_init_std_reaches_the_run(capsys):
    """--init-std sets TrainConfig.init_std (a seeded random start); a negative value is refused."""
    from sslvit.cli import configs_from_args

    args = build_parser().parse_args(["train", "--patches", "16", "--global-size", "8", "--local-size", "2",
                                      "--init-std", "1e-6"])
    assert configs_from_args(args).train.init_std == 1e-6
    code, _, err = run_main(["train", "--patches", "16", "--global-size", "8", "--local-size", "2", "--steps", "1",
                             "--init-std", "-1"], capsys)
    assert code != 0 and "--init-std" in err


def test_help_documents_every_flag(capsys):
    """`train --help` exits 0 and lists every flag, each with a help text."""
    code, out, _ = run_main(["train", "--help"], capsys)
    assert code == 0
    for flag in FLAGS:
        assert flag in out, flag
    train_parser = next(a for a in build_parser()._actions if a.dest == "command").choices["train"]
    documented = {o for a in train_parser._actions for o in a.option_strings if o.startswith("--") and a.help}
    assert documented == set(FLAGS) | {"--help"}


def test_too_large_configuration_stops_early(capsys):
    """A configuration that cannot fit stops before allocating: one line with the estimate and what to change."""
    code, out, err = run_main(["train", "--patches", "1000000000", "--global-size", "500000000", "--local-size", "4"],
                              capsys)
    assert code == 2 and out == ""
    assert err.startswith("python -m sslvit: too large: this training needs about") and "fewer patches" in err
    assert len(err.strip().splitlines()) == 1


def test_device_flag(capsys):
    code, out, _ = run_main(["train", *SMALL, "--steps", "2", "--device", "cpu", "--json"], capsys)
    assert code == 0 and last_json(out)["final"]
    code, _, err = run_main(["train", *SMALL, "--steps", "2", "--device", "tpu9"], capsys)
    assert code == 2 and "device='tpu9' is not allowed" in err
