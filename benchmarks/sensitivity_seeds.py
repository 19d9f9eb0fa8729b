"""Chapter 14's study over twenty seeds (``make measurements``; book chapter 14).

Two measurements, in the setting of chapter 14 (P = 64, K = 2 clusters, random layout, C_c = 4, C_s = 40 and 12,
60 steps of plain gradient descent, batch 16, step size 1e3; MAE γ = 0.5, CL γ = 0.3, 15 negatives, τ = 1, and
τ = 0.2 with cosine similarity):

* ``sweep``: every reconstruction of :data:`VARIANTS` (the book's and seven alternatives, the random start at two
  sizes), MAE and CL, both signs of Δ, seeds 0–19; for each, the metrics that the claims are graded on
  (:func:`sslvit.beyond.sensitivity.claim_verdicts`) at steps 0, 1 and 60;
* ``cosine``: CL with cosine similarity in six settings (τ, step size, sign of Δ), seeds 0–19: each run's final
  attention on the global area and NMI, and the landing area of each (run, cluster)
  (:func:`sslvit.beyond.sensitivity.landing_areas`).

Chapter 14 reads the copy shipped in ``lib/sslvit/results/sensitivity_seeds.json`` and trains seeds 0–2 of
every reconstruction again while it executes. Record it in the book's arithmetic (``make measurements`` does):
``ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE``, so that the chapter's live runs reproduce it bit for bit.

Usage::

    python benchmarks/sensitivity_seeds.py --json lib/sslvit/results/sensitivity_seeds.json  # ~20 min on 2 cores
    python benchmarks/sensitivity_seeds.py --seeds 3                                         # a quick look
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import torch

import sslvit
from sslvit import DataConfig, Run, TrainConfig
from sslvit.beyond.fullq import train_fullq
from sslvit.beyond.sensitivity import landing_areas, sensitivity_sweep
from sslvit.beyond.variants import Variant

P, K, C_C, STEPS = 64, 2, 4, 60
DATA = {"+": DataConfig(patches=P, clusters=K, global_size=40, local_size=C_C, layout="random"),
        "-": DataConfig(patches=P, clusters=K, global_size=12, local_size=C_C, layout="random")}
TRAIN = {"mae": TrainConfig(objective="mae", lr=1e3, steps=STEPS, batch_size=16),
         "cl": TrainConfig(objective="cl", lr=1e3, steps=STEPS, batch_size=16)}
COSINE_TAU = 0.2
VARIANTS = {
    "our reconstruction": Variant(),
    "softmax over visible keys": Variant(keys="visible"),
    "cosine similarity": Variant(similarity="cosine"),
    "[CLS]-like representation": Variant(representation="cls"),
    "random start, std 0.1": Variant(init_std=0.1),
    "random start, std 1": Variant(init_std=1.0),
    "fixed-fraction masking": Variant(masking="fixed"),
    "MAE loss over P": Variant(mae_norm="patches"),
    "content queries": Variant(queries="content"),
}
COSINE_SETTINGS = [("+", 0.2, 1e3), ("-", 0.2, 1e3), ("+", 0.1, 1e3), ("+", 0.1, 1e4), ("+", 0.5, 1e3), ("+", 0.5, 1e4)]
METRICS = ("own_area_attention", "global_area_attention", "nmi", "fp_own", "fp_global", "cls_global_attention", "loss")


def train_settings(variant: Variant) -> dict[str, TrainConfig]:
    """Chapter 14's training settings for a reconstruction (cosine similarity at its own temperature)."""
    return TRAIN if variant.similarity == "dot" else {**TRAIN, "cl": replace(TRAIN["cl"], tau=COSINE_TAU)}


def sweep(seeds: list[int]) -> dict:
    out = {}
    for name, variant in VARIANTS.items():
        start = time.perf_counter()
        result = sensitivity_sweep(variant, DATA, train_settings(variant), seeds, [0, 1, STEPS])
        out[name] = {obj: {sign: {m: [[round(float(x), 12) for x in row] for row in h[m].tolist()]
                                  for m in METRICS if m in h}
                           for sign, h in by_sign.items()} for obj, by_sign in result.histories.items()}
        print(f"{name:28s} {len(seeds)} seeds: " + ", ".join(f"{c} {v.verdict}" for c, v in result.verdicts.items())
              + f" ({time.perf_counter() - start:.0f} s)", flush=True)
    return out


def cosine(seeds: list[int]) -> list[dict]:
    rows = []
    for sign, tau, lr in COSINE_SETTINGS:
        start = time.perf_counter()
        runs = [Run(DATA[sign], replace(TRAIN["cl"], tau=tau, lr=lr, seed=s)) for s in seeds]
        traj = train_fullq(runs, variant=Variant(similarity="cosine"), log_every=STEPS)
        land = landing_areas(traj)
        for r, run in enumerate(runs):
            rows.append({"sign": sign, "tau": tau, "lr": lr, "seed": run.train.seed,
                         "global": round(float(traj.final["global_area_attention"][r]), 12),
                         "nmi": round(float(traj.final["nmi"][r]), 12),
                         "clusters": [{k: v for k, v in row.items() if k not in ("run", "seed")}
                                      for row in land if row["run"] == r]})
        print(f"cosine, Delta {sign}, tau {tau:g}, lr {lr:g}: {len(seeds)} runs ({time.perf_counter() - start:.0f} s)",
              flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20, help="seeds 0..N-1 (default 20)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)                     # as chapter 14: small tensors, and its arithmetic
    seeds = list(range(args.seeds))
    data = {"sweep": sweep(seeds), "cosine": cosine(seeds)}
    if args.json is not None:
        env = dict(torch=torch.__version__, sslvit=sslvit.__version__, python=platform.python_version(),
                   threads=torch.get_num_threads(), date=str(date.today()), seeds=len(seeds),
                   arithmetic={k: os.environ.get(k, "") for k in ("ATEN_CPU_CAPABILITY", "MKL_CBWR")})
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(dict(environment=env, **data)) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
