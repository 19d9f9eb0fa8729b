"""Chapter 6's phase diagram at the default image size (``make phase-diagram``).

P = 256 patches on a 16 × 16 grid, local areas of 2 × 2 blocks (C_c = 4), eight global areas
(C_s = 8, 16, 24, 32, 48, 64, 96, 168: Δ from −0.5 to +0.6), masking probabilities γ = 0.2, 0.3, …, 0.7, seeds
0, 1, 2, both objectives: 288 runs. CL trains with its default settings (η = 2·10⁴, 500 steps); MAE with the
training time η t = 1.5·10⁶ at which chapter 4 checks its end state (η = 5·10³, 300 steps). float32, evaluation
batch 32, metrics also logged at half of the steps. Writes every run's final metrics (and those at half time) as
JSON; chapter 6 reads the copy shipped in ``lib/sslvit/results/phase_diagram.json`` and retrains some of its runs
itself.

Usage::

    python benchmarks/phase_diagram.py --json lib/sslvit/results/phase_diagram.json   # about 25 min on 2 cores
"""
from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from datetime import date
from pathlib import Path

import torch

import sslvit
from sslvit import DataConfig
from sslvit.analysis.sweeps import run_sweep, sweep_runs

PATCHES, LOCAL_SIZE = 256, 4
GLOBAL_SIZES = (8, 16, 24, 32, 48, 64, 96, 168)
GAMMAS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
SEEDS = (0, 1, 2)
SETTINGS = {"mae": {"lr": 5e3, "steps": 300}, "cl": {"lr": 2e4, "steps": 500}}
EVAL_BATCH = 32
METRICS = ("own_area_attention", "global_area_attention", "nmi", "attention_distance", "loss")


def diagram_runs(global_sizes=GLOBAL_SIZES, gammas=GAMMAS, seeds=SEEDS) -> list:
    """The runs of the diagram (or of a part of it), in the order of :func:`sslvit.analysis.sweeps.sweep_runs`."""
    data = [DataConfig(patches=PATCHES, global_size=c, local_size=LOCAL_SIZE, layout="grid") for c in global_sizes]
    return sweep_runs(data, objectives=("mae", "cl"), mask_probs=gammas, seeds=seeds, overrides=SETTINGS)


def slim(row: dict) -> dict:
    keep = ("objective", "patches", "global_size", "local_size", "delta", "mask_prob", "seed", "lr", "steps", "ceiling")
    out = {k: row[k] for k in keep}
    out.update({k: row[k] for k in row if k.split("@")[0] in METRICS})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Sparse")
    torch.set_num_threads(2)
    start = time.perf_counter()
    sweep = run_sweep(diagram_runs(), eval_batch=EVAL_BATCH, dtype=torch.float32, checkpoints=(0.5,))
    seconds = time.perf_counter() - start
    rows = [slim(r) for r in sweep.rows]
    print(f"{len(rows)} runs in {seconds:.0f} s: " + ", ".join(f"{c['objective']} {c['seconds']:.0f} s" for c in sweep.calls))
    if args.json is not None:
        env = dict(torch=torch.__version__, sslvit=sslvit.__version__, python=platform.python_version(),
                   cpu_count=torch.get_num_threads(), date=str(date.today()), dtype="float32",
                   eval_batch=EVAL_BATCH, seconds=round(seconds))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(environment=env, runs=rows), indent=0) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
