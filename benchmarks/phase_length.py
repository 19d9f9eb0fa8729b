"""How long Phase I lasts as the number of patches grows (``make phase-length``; book chapter 4).

For P = 64, 256, 1024, 4096 and two fixed pairs of exponents — κ_s = 3/4, κ_c = 1/4 (Δ = +1/4) and κ_s = 1/2,
κ_c = 1/4 (Δ = −1/4), area sizes the closest tiling of P^κ (:func:`sslvit.core.data.sizes_from_kappa`) — and
seeds 0, 1, 2, train MAE (γ = 1/2, K = 4 clusters, random layout, batch 32, float64) by gradient descent from
Q = 0 with :func:`sslvit.analysis.phase_length.phase_one_length` until Phase II is confirmed, and write every
run's Phase I length with chapter 3's exact initial rates as JSON. Chapter 4 reads the copy shipped in
``lib/sslvit/results/phase_length.json`` and recomputes the runs at P ≤ 256 itself.

Usage::

    python benchmarks/phase_length.py --json lib/sslvit/results/phase_length.json   # about 15 min on 2 cores
    python benchmarks/phase_length.py --patches 64 256                             # a subset, printed only
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
from sslvit.analysis.phase_length import phase_one_length

PATCHES = (64, 256, 1024, 4096)
KAPPAS = ((0.75, 0.25), (0.5, 0.25))
SEEDS = (0, 1, 2)
CLUSTERS = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches", type=int, nargs="+", default=list(PATCHES))
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Sparse")
    torch.set_num_threads(2)
    rows = []
    for P in args.patches:
        for kappa_s, kappa_c in KAPPAS:
            data = DataConfig.from_kappa(P, kappa_s, kappa_c, clusters=CLUSTERS)
            for seed in SEEDS:
                start = time.perf_counter()
                result = phase_one_length(data, seed)
                seconds = time.perf_counter() - start
                rows.append(dict(result.to_dict(), kappa_s=kappa_s, kappa_c=kappa_c, seconds=round(seconds, 2)))
                print(f"P = {P:5d}  C_s = {data.global_size:4d}  C_c = {data.local_size:2d}  Delta = {data.delta:+.3f}  "
                      f"seed {seed}: r = {result.ratio:.3f}, boundary {result.boundary}, "
                      f"v0 T_I = {result.decoupling_time}, {result.steps} steps in {seconds:.1f} s", flush=True)
    if args.json is not None:
        env = dict(torch=torch.__version__, sslvit=sslvit.__version__, python=platform.python_version(),
                   cpu_count=torch.get_num_threads(), date=str(date.today()))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(environment=env, runs=rows), indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
