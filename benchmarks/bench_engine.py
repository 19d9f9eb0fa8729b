"""Benchmark of the sslvit training engine (``make bench``).

(a) One MAE configuration (P = 256, K = 4, global area 64, local areas 4, batch 32, 100 steps, lr 1e3)
    trained twice in float64:

    * the **reference**: the full ``d × d`` matrix ``Q`` of :class:`sslvit.OneLayerViT`, the dense patch
      vectors of :func:`sslvit.dense_patches`, :func:`sslvit.core.objectives.mae_loss_dense`, ``loss.backward()``
      and ``Q -= lr * Q.grad``, in a plain Python loop;
    * the **fast engine**: ``sslvit.train(Run(...), log_every=steps)`` on the attention correlations
      ``(A, B)``, which evaluates the metrics only at step 0 and at the end (its time includes both).

    Both draw the same layout and the same batches, so their final correlations must agree to rounding:
    the script prints the largest difference. It also times the engine in float32.

(b) A sweep of 48 runs: 8 values of the information gap Δ (P = 256, local areas of 4, global areas from 8 to
    168 patches) × 3 seeds × 2 objectives (MAE, CL), default steps (300 MAE, 500 CL), float32,
    ``log_every=50``, each objective as ONE batched ``sslvit.train`` call over its 24 runs. It prints the
    seconds taken and the final attention of local queries (own area / global area) per objective and Δ.

(c) Scaling: MAE at P = 64, 256, 1024, 4096 with the area sizes of (a) scaled as P^κ (κ_s = 0.75, κ_c = 0.25,
    Δ = +0.25), batch 32, float64, one run: milliseconds per training step, seconds per evaluation and the
    peak memory of a process that trains with its evaluation (each P in a fresh process), and the fitted
    exponent of time per step against P.

Usage::

    python benchmarks/bench_engine.py                 # the full benchmark (about a minute on 2 cores)
    python benchmarks/bench_engine.py --quick         # a smoke run with few steps
    python benchmarks/bench_engine.py --json out.json # also write the numbers as JSON

Targets on 2 CPU cores: fast engine at least 40× faster per step than the reference; 48-run sweep ≤ 30 s;
MAE at P = 4096 at most 1 s per step, with its evaluation in at most 3 GB. (a) also measures the machine's
memory copy bandwidth and says how many passes over an (images, areas, positions) tensor a step costs.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

import sslvit
from sslvit import DataConfig, OneLayerViT, Run, TrainConfig, dense_patches, make_layout
from sslvit.analysis.theory import log_log_fit
from sslvit.core.data import draw_images, draw_mask
from sslvit.core.objectives import mae_loss_dense
from sslvit.core.runs import STREAMS, random_stream  # the runs' random streams: the reference sees the same batches

P, CLUSTERS, BATCH = 256, 4, 32
COMPARE = dict(global_size=64, local_size=4, steps=100, lr=1e3, mask_prob=0.5, seed=0)
#: global-area sizes with local areas of 4 patches: Δ ≈ -0.50, -0.35, -0.17, -0.05, +0.12, +0.25, +0.40, +0.60
SWEEP_GLOBAL_SIZES = (8, 12, 20, 28, 44, 64, 96, 168)
SWEEP_LOCAL_SIZE = 4
SWEEP_SEEDS = (0, 1, 2)
TARGET_SPEEDUP = 40.0
TARGET_SWEEP_SECONDS = 30.0
SCALING_PATCHES = (64, 256, 1024, 4096)
SCALING_KAPPA = (0.75, 0.25)
TARGET_PEAK_GB = 3.0


# ---- (a) reference vs fast engine ----------------------------------------------------------------------

def reference_mae(cfg: DataConfig, steps: int, lr: float, mask_prob: float, seed: int, batch: int,
                  dtype: torch.dtype) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Plain full-``Q`` autograd gradient descent. Returns (seconds, final A, final B)."""
    layout_g, train_g = random_stream(seed, STREAMS["layout"]), random_stream(seed, STREAMS["train"])
    layout = make_layout(cfg, layout_g)
    model = OneLayerViT(cfg, dtype=dtype)
    start = time.perf_counter()
    for _ in range(steps):
        cluster, scale = draw_images(cfg, batch, train_g, dtype)
        visible = draw_mask(cfg.patches, batch, mask_prob, train_g)
        X = dense_patches(cfg, layout, cluster, scale)
        F, _ = model(X, visible)
        loss = mae_loss_dense(F, X, visible)
        loss.backward()
        with torch.no_grad():
            model.Q -= lr * model.Q.grad
        model.Q.grad = None
    seconds = time.perf_counter() - start
    A, B = sslvit.correlations_from_q(model.Q.detach(), cfg)
    return seconds, A.clone(), B.clone()


def engine_mae(cfg: DataConfig, steps: int, lr: float, mask_prob: float, seed: int, batch: int,
               dtype: torch.dtype, method: str = "fast") -> sslvit.Trajectory:
    run = Run(cfg, TrainConfig(objective="mae", lr=lr, steps=steps, mask_prob=mask_prob, seed=seed,
                               batch_size=batch))
    return sslvit.train(run, log_every=max(1, steps), dtype=dtype, progress=False, method=method)


def memory_copy_bandwidth(megabytes: int = 64, repeats: int = 20) -> float:
    """GB/s of ``dst.copy_(src)`` on float64 buffers of ``megabytes`` (read + write counted), best of ``repeats``."""
    src = torch.rand(megabytes * 2**20 // 8, dtype=torch.float64)
    dst = torch.empty_like(src)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        dst.copy_(src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.numel() * 8 / best / 1e9


def compare(steps: int) -> dict:
    c = COMPARE
    cfg = DataConfig(patches=P, clusters=CLUSTERS, global_size=c["global_size"], local_size=c["local_size"])
    args = dict(steps=steps, lr=c["lr"], mask_prob=c["mask_prob"], seed=c["seed"], batch=BATCH)
    print(f"(a) MAE, P={P} K={CLUSTERS} C_s={cfg.global_size} C_c={cfg.local_size} (Δ={cfg.delta:+.3f}), "
          f"d={cfg.dim}, batch {BATCH}, {steps} steps, lr={c['lr']:g}")
    # warm-up (first-call allocations, lazy imports), not timed
    reference_mae(cfg, **{**args, "steps": 2}, dtype=torch.float64)
    engine_mae(cfg, **{**args, "steps": 2}, dtype=torch.float64)
    engine_mae(cfg, **{**args, "steps": 2}, dtype=torch.float32)

    ref_s, A_ref, B_ref = reference_mae(cfg, **args, dtype=torch.float64)
    t0 = time.perf_counter()
    fast64 = engine_mae(cfg, **args, dtype=torch.float64)
    fast64_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    fast32 = engine_mae(cfg, **args, dtype=torch.float32)
    fast32_wall = time.perf_counter() - t0

    A_fast, B_fast = fast64.correlations(0)
    diff = max(float((A_fast - A_ref).abs().max()), float((B_fast - B_ref).abs().max()))
    out = {
        "config": {"patches": P, "clusters": CLUSTERS, "global_size": cfg.global_size,
                   "local_size": cfg.local_size, "delta": cfg.delta, "dim": cfg.dim, "batch_size": BATCH,
                   "steps": steps, "lr": c["lr"], "mask_prob": c["mask_prob"], "seed": c["seed"]},
        "reference_float64_ms_per_step": 1e3 * ref_s / steps,
        "engine_float64_ms_per_step": 1e3 * fast64.seconds / steps,
        "engine_float32_ms_per_step": 1e3 * fast32.seconds / steps,
        "engine_float64_wall_s": fast64_wall,
        "engine_float32_wall_s": fast32_wall,
        "speedup_float64": ref_s / fast64.seconds,
        "memory_copy_gb_per_s": memory_copy_bandwidth(),
        "max_abs_diff_correlations_float64": diff,
        "engine_final_own_area_attention": float(fast64.final["own_area_attention"][0]),
    }
    print(f"    reference (full Q, autograd), float64 : {out['reference_float64_ms_per_step']:9.2f} ms/step")
    print(f"    fast engine (A, B),           float64 : {out['engine_float64_ms_per_step']:9.2f} ms/step "
          "(includes the metrics at step 0 and at the end)")
    print(f"    fast engine (A, B),           float32 : {out['engine_float32_ms_per_step']:9.2f} ms/step")
    pass_ms = 1e3 * 2 * 8 * BATCH * cfg.n_areas * P / (out["memory_copy_gb_per_s"] * 1e9)
    out["engine_float64_passes_per_step"] = out["engine_float64_ms_per_step"] / pass_ms
    # the step's speed in the copy's unit: one read and one write of an (images, areas, positions) tensor per step
    out["engine_float64_gb_per_s"] = 2 * 8 * BATCH * cfg.n_areas * P / (out["engine_float64_ms_per_step"] / 1e3) / 1e9
    print(f"    memory copy on this machine           : {out['memory_copy_gb_per_s']:9.1f} GB/s; one read and one "
          f"write of an (images, areas, positions) tensor ({BATCH} x {cfg.n_areas} x {P}, float64) takes "
          f"{pass_ms:.2f} ms: a step costs {out['engine_float64_passes_per_step']:.0f} such passes "
          f"({out['engine_float64_gb_per_s']:.2f} GB/s of such tensors, against the copy's "
          f"{out['memory_copy_gb_per_s']:.1f} GB/s)")
    ok = out["speedup_float64"] >= TARGET_SPEEDUP
    print(f"    speed-up, float64                     : {out['speedup_float64']:9.1f}x  "
          f"(target >= {TARGET_SPEEDUP:g}x: {'met' if ok else 'NOT met'})")
    print(f"    same trajectory: max |A_ref - A_fast|, |B_ref - B_fast| after {steps} steps = {diff:.2e}")
    return out


# ---- (b) the 48-run sweep -------------------------------------------------------------------------------

def sweep(quick: bool) -> dict:
    configs = [DataConfig(patches=P, clusters=CLUSTERS, global_size=cs, local_size=SWEEP_LOCAL_SIZE)
               for cs in SWEEP_GLOBAL_SIZES]
    deltas = [c.delta for c in configs]
    n_runs = 2 * len(configs) * len(SWEEP_SEEDS)
    print(f"\n(b) sweep of {n_runs} runs: {len(configs)} values of Δ x {len(SWEEP_SEEDS)} seeds x 2 objectives, "
          f"P={P}, C_c={SWEEP_LOCAL_SIZE}, float32, log_every=50, one batched sslvit.train call per objective")
    print("    C_s = " + "  ".join(f"{c.global_size:6d}" for c in configs))
    print("    Δ   = " + "  ".join(f"{d:+6.3f}" for d in deltas))
    out: dict = {"deltas": deltas, "global_sizes": list(SWEEP_GLOBAL_SIZES), "local_size": SWEEP_LOCAL_SIZE,
                 "seeds": list(SWEEP_SEEDS), "objectives": {}}
    total = 0.0
    for objective in ("mae", "cl"):
        steps = sslvit.DEFAULTS[objective]["steps"]
        if quick:
            steps = steps // 10
        base = TrainConfig(objective=objective, steps=steps, batch_size=BATCH)
        runs = [Run(cfg, replace(base, seed=seed)) for cfg in configs for seed in SWEEP_SEEDS]
        t0 = time.perf_counter()
        traj = sslvit.train(runs, log_every=50, dtype=torch.float32, progress=False)
        wall = time.perf_counter() - t0
        total += wall
        own = traj.final["own_area_attention"].view(len(configs), len(SWEEP_SEEDS))
        glob = traj.final["global_area_attention"].view(len(configs), len(SWEEP_SEEDS))
        out["objectives"][objective] = {
            "runs": len(runs), "steps": steps, "lr": base.lr, "mask_prob": base.mask_prob,
            "seconds": wall, "train_loop_seconds": traj.seconds,
            "ms_per_step_all_runs": 1e3 * traj.seconds / max(1, steps),
            "final_own_area_attention_mean": float(own.mean()),
            "final_global_area_attention_mean": float(glob.mean()),
            "final_own_area_attention_by_delta": own.mean(1).tolist(),
            "final_global_area_attention_by_delta": glob.mean(1).tolist(),
        }
        o = out["objectives"][objective]
        print(f"    {objective.upper():3s}: {len(runs)} runs x {steps} steps in {wall:6.1f} s "
              f"({o['ms_per_step_all_runs']:.1f} ms per step of all {len(runs)} runs); final attention of local "
              f"queries, mean of all runs: own area {o['final_own_area_attention_mean']:.3f}, "
              f"global area {o['final_global_area_attention_mean']:.3f}")
        print("         own    = " + "  ".join(f"{v:6.3f}" for v in o["final_own_area_attention_by_delta"]))
        print("         global = " + "  ".join(f"{v:6.3f}" for v in o["final_global_area_attention_by_delta"]))
    out["total_seconds"] = total
    ok = total <= TARGET_SWEEP_SECONDS
    print(f"    total: {total:.1f} s for {n_runs} runs"
          + ("" if quick else f"  (target <= {TARGET_SWEEP_SECONDS:g} s: {'met' if ok else 'NOT met'})"))
    return out


# ---- (c) scaling with P -------------------------------------------------------------------------------------

def scaling_child(patches: int) -> dict:
    """One P in this (fresh) process: time per step, time per evaluation, peak memory of a short training."""
    from sslvit.core.perf import keep_large_allocations
    from sslvit.core.runs import RunBatch
    from sslvit.core.training import Evaluation, GradientDescent, initial_correlations, loss_and_grads

    cfg = DataConfig.from_kappa(patches, *SCALING_KAPPA, clusters=CLUSTERS)
    run = Run(cfg, TrainConfig(objective="mae", steps=1, batch_size=BATCH))
    sslvit.train(run, log_every=1, progress=False)                  # peak memory: one step, two evaluations
    peak = _peak_memory()
    keep_large_allocations()
    state = RunBatch([run], torch.float64, "cpu")
    A, B = initial_correlations(state)
    opt, steps = GradientDescent(state.lr), max(2, min(40, (2**20) // (patches * patches) * 10))
    batches = [state.draw(state.train_streams, state.images) for _ in range(steps)]
    start = time.perf_counter()
    for t, batch in enumerate(batches, 1):
        _, dA, dB = loss_and_grads(A, B, state, batch)
        opt.step(A, B, dA, dB, t)
    step_s = (time.perf_counter() - start) / steps
    evaluation = Evaluation(state, None)
    start = time.perf_counter()
    evaluation.log(0, A, B)
    return {"patches": patches, "global_size": cfg.global_size, "local_size": cfg.local_size, "areas": cfg.n_areas,
            "delta": cfg.delta, "ms_per_step": 1e3 * step_s, "seconds_per_evaluation": time.perf_counter() - start,
            "peak_memory_gb": peak / 2**30, "timed_steps": steps}


def scaling(threads: int | None) -> dict:
    print(f"\n(c) scaling: MAE, κ_s = {SCALING_KAPPA[0]}, κ_c = {SCALING_KAPPA[1]}, batch {BATCH}, float64, one run; "
          "each P in a fresh process")
    rows = []
    for patches in SCALING_PATCHES:
        cmd = [sys.executable, __file__, "--scaling-child", str(patches)] + (["--threads", str(threads)] if threads else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"    P = {r['patches']:5d} (C_s = {r['global_size']:4d}, C_c = {r['local_size']:2d}, N = {r['areas']:4d}): "
              f"{r['ms_per_step']:9.1f} ms per step, {r['seconds_per_evaluation']:6.2f} s per evaluation, "
              f"peak memory {r['peak_memory_gb']:.2f} GB")
    slope, _ = log_log_fit([r["patches"] for r in rows[1:]], [r["ms_per_step"] for r in rows[1:]])
    peak = rows[-1]["peak_memory_gb"]
    print(f"    time per step ∝ P^{slope:.2f} (least squares over P = {', '.join(str(r['patches']) for r in rows[1:])})")
    print(f"    peak memory at P = {rows[-1]['patches']}: {peak:.2f} GB "
          f"(target <= {TARGET_PEAK_GB:g} GB: {'met' if peak <= TARGET_PEAK_GB else 'NOT met'})")
    return {"kappa_s": SCALING_KAPPA[0], "kappa_c": SCALING_KAPPA[1], "rows": rows, "exponent": slope}


def _peak_memory() -> int:
    """Bytes: the peak resident memory of this process (Linux: ``VmHWM``, which starts afresh at ``exec``, unlike
    ``ru_maxrss``, which keeps the parent's peak from the ``fork``)."""
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 10 steps in (a), a tenth of the default steps in (b)")
    parser.add_argument("--json", metavar="PATH", help="write the numbers to this JSON file")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--skip-sweep", action="store_true", help="skip (b)")
    parser.add_argument("--skip-scaling", action="store_true", help="skip (c)")
    parser.add_argument("--scaling-child", type=int, metavar="P", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.scaling_child:
        print(json.dumps(scaling_child(args.scaling_child)))
        return 0
    env = {"torch": torch.__version__, "sslvit": sslvit.__version__, "python": platform.python_version(),
           "machine": platform.machine(), "system": platform.system(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "quick": args.quick,
           "date": time.strftime("%Y-%m-%d"), "cpu": _cpu_model()}
    print(f"sslvit {env['sslvit']}, torch {env['torch']}, python {env['python']}, "
          f"torch.get_num_threads() = {env['torch_threads']}, os.cpu_count() = {env['cpu_count']}"
          + ("  [--quick: timings are not representative]" if args.quick else ""))
    result = {"environment": env, "compare": compare(10 if args.quick else COMPARE["steps"])}
    if not args.skip_sweep:
        result["sweep"] = sweep(args.quick)
    if not args.skip_scaling and not args.quick:
        result["scaling"] = scaling(args.threads)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
