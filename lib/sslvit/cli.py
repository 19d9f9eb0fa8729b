"""Command line: ``python -m sslvit train ...`` trains one configuration and reports the metrics of book chapter 6.

Examples::

    python -m sslvit train --objective mae --global-size 16 --local-size 4      # Δ < 0
    python -m sslvit train --objective cl --json | tail -n 1 | python -m json.tool

With ``--json`` the last line of stdout is one JSON object with keys ``delta``, ``config``, ``final`` (the
metrics of chapter 6) and ``history`` (one dict per logged step, with ``step`` and the same metrics); metrics
that do not apply (``oracle_loss`` for CL, ``attention_distance`` for the random layout) are ``null``.
Exit status: 0 on success, 2 for bad flags, an invalid configuration or one too large for the machine, 1 if
training diverged (or the output could not be written), 130 when interrupted (Ctrl-C: with ``--json`` the
metrics logged so far are still printed). Every failure is one line on stderr, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Optional, Sequence, Union

import torch

from sslvit.beyond.memory import MemoryQueue
from sslvit.beyond.mix import CL_MASK_PROB, MIX_SCALE, Mixed
from sslvit.core.data import DataConfig, sizes_from_kappa
from sslvit.core.metrics import METRICS
from sslvit.core.objectives import Objective
from sslvit.core.budget import TooLarge
from sslvit.core.training import DEFAULTS, Run, TrainConfig, Trajectory, TrainingDiverged, TrainingInterrupted, train
from sslvit.core.validation import not_allowed

__all__ = ["main", "build_parser", "configs_from_args", "run_summary"]


class _Parser(argparse.ArgumentParser):
    """Bad flags: one line on stderr, exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m sslvit", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    t = sub.add_parser("train", help="train one configuration and print its metrics",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter,
                       description="Train the one-layer ViT with MAE or CL on the spatially structured data "
                                   "(book chapters 1-6) and print the metrics at every logged step.")
    t.add_argument("--objective", choices=("mae", "cl", "mix"), default="mae",
                   help="self-supervised objective (mix: --mix * MAE + (1 - --mix) * --mix-scale * CL, chapter 11)")
    t.add_argument("--patches", type=int, default=256, help="P, number of patches")
    t.add_argument("--clusters", type=int, default=4, help="K, number of clusters (image types)")
    t.add_argument("--global-size", type=int, default=None, help="C_s, size of the global area (default 64)")
    t.add_argument("--local-size", type=int, default=None, help="C_c, size of each local area (default 4)")
    t.add_argument("--kappa-s", type=float, default=None, help="alternative to --global-size: C_s ≈ P^kappa_s")
    t.add_argument("--kappa-c", type=float, default=None, help="alternative to --local-size: C_c ≈ P^kappa_c")
    t.add_argument("--layout", choices=("random", "grid"), default="random", help="how areas sit on the positions")
    t.add_argument("--low", type=float, default=0.5, help="L, lower end of the per-area scale")
    t.add_argument("--high", type=float, default=1.5, help="U, upper end of the per-area scale")
    t.add_argument("--allow-no-dominant", action="store_true",
                   help="chapter 8: allow --local-size >= --global-size (no dominant global area)")
    t.add_argument("--scale-law", choices=("uniform", "sign", "lognormal", "pareto"), default="uniform",
                   help="law of the per-area scale (beyond the paper, chapter 9); mean (L+U)/2 for lognormal/pareto")
    t.add_argument("--scale-param", type=float, default=None,
                   help="parameter of --scale-law: P(negative sign) for sign (0.5), log-sd for lognormal (0.5), "
                        "tail index alpha > 1 for pareto (2)")
    t.add_argument("--mask-prob", type=float, default=None,
                   help=f"masking probability gamma (default {DEFAULTS['mae']['mask_prob']} MAE, "
                        f"{DEFAULTS['cl']['mask_prob']} CL)")
    t.add_argument("--steps", type=int, default=None,
                   help=f"training steps (default {DEFAULTS['mae']['steps']} MAE, {DEFAULTS['cl']['steps']} CL)")
    t.add_argument("--lr", type=float, default=None,
                   help=f"step size (default {DEFAULTS['mae']['lr']:g} MAE, {DEFAULTS['cl']['lr']:g} CL)")
    t.add_argument("--batch-size", type=int, default=32, help="images per step, fresh every step")
    t.add_argument("--population", type=int, default=None,
                   help="use one fixed sample of this many images at every step instead of fresh batches")
    t.add_argument("--negatives", type=int, default=None, help="CL negatives per image (default batch size - 1)")
    t.add_argument("--tau", type=float, default=None, help="CL temperature (default 1)")
    t.add_argument("--queue", type=int, default=0,
                   help="CL only (chapter 10): length of a MoCo-style memory queue of past second-view "
                        "representations used as extra negatives (0 = none)")
    t.add_argument("--mix", type=float, default=None,
                   help="objective mix only (chapter 11): weight lambda in [0, 1] of the MAE term (default 0.5)")
    t.add_argument("--mix-scale", type=float, default=None,
                   help="objective mix only: factor c of the CL term (default 20 = CL step size 2e4 / MAE step size 1e3)")
    t.add_argument("--cl-mask-prob", type=float, default=None,
                   help="objective mix only: masking probability of the two CL views (default 0.3)")
    t.add_argument("--init-std", type=float, default=0.0,
                   help="standard deviation of a random start A, B ~ init_std * N(0, 1) (default 0: Q = 0)")
    t.add_argument("--optimizer", choices=("gd", "adam"), default="gd", help="gradient descent or Adam")
    t.add_argument("--seed", type=int, default=0, help="seed of the layout, the batches and the evaluation batch")
    t.add_argument("--log-every", type=int, default=None, help="log the metrics every this many steps "
                   "(default: steps/10); step 0 and the last step are always logged")
    t.add_argument("--eval-batch", type=int, default=None, help="images in the evaluation batch (default batch size)")
    t.add_argument("--dtype", choices=("float64", "float32"), default="float64", help="floating point precision")
    t.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads, from 1 to the number of CPUs (default: torch's choice)")
    t.add_argument("--device", default="cpu", help="where to train: cpu (default), cuda, cuda:1, mps")
    t.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line of stdout")
    return parser


def _objective(args: argparse.Namespace) -> Union[str, Objective]:
    """The objective of the flags: a name, a memory queue (chapter 10) or the mixed objective (chapter 11)."""
    if args.objective != "mix":
        if args.mix is not None:
            raise not_allowed("mix", args.mix, "a mixing weight needs objective='mix' (leave mix=None)")
        if args.cl_mask_prob is not None:
            raise not_allowed("cl_mask_prob", args.cl_mask_prob, "the CL views' masking probability needs objective='mix'")
        if args.mix_scale is not None:
            raise not_allowed("mix_scale", args.mix_scale, "the factor of the CL term needs objective='mix'")
    if args.queue and args.objective != "cl":
        raise not_allowed("queue", args.queue, "a memory queue of negatives needs objective='cl' (use 0)")
    if args.objective == "mix":
        return Mixed(weight=0.5 if args.mix is None else args.mix, scale=MIX_SCALE if args.mix_scale is None else args.mix_scale,
                     cl_mask_prob=CL_MASK_PROB if args.cl_mask_prob is None else args.cl_mask_prob)
    return MemoryQueue(args.queue) if args.queue else args.objective


def configs_from_args(args: argparse.Namespace) -> Run:
    """The run that the parsed flags of ``train`` describe."""
    if (args.kappa_s is None) != (args.kappa_c is None):
        raise ValueError("give both --kappa-s and --kappa-c, or neither")
    if args.kappa_s is not None:
        if args.global_size is not None or args.local_size is not None:
            raise ValueError("give either --kappa-s/--kappa-c or --global-size/--local-size, not both")
        global_size, local_size = sizes_from_kappa(args.patches, args.kappa_s, args.kappa_c)
    else:
        global_size = 64 if args.global_size is None else args.global_size
        local_size = 4 if args.local_size is None else args.local_size
    data = DataConfig(patches=args.patches, clusters=args.clusters, global_size=global_size, local_size=local_size,
                      layout=args.layout, low=args.low, high=args.high, allow_no_dominant=args.allow_no_dominant,
                      scale_law=args.scale_law, scale_param=args.scale_param)
    train_cfg = TrainConfig(objective=_objective(args), mask_prob=args.mask_prob, lr=args.lr, steps=args.steps,
                            batch_size=args.batch_size, negatives=args.negatives,
                            tau=1.0 if args.tau is None else args.tau,
                            optimizer=args.optimizer, seed=args.seed, population=args.population,
                            init_std=args.init_std)
    return Run(data, train_cfg)


#: the JSON's training settings, in this order; the objective's own settings are null or their defaults when the
#: run's objective has none
TRAIN_KEYS = ("objective", "mask_prob", "lr", "steps", "batch_size", "negatives", "tau", "optimizer", "seed",
              "population", "queue", "mix", "mix_scale", "cl_mask_prob", "init_std")
OBJECTIVE_DEFAULTS = {"queue": 0, "mix": None, "mix_scale": MIX_SCALE, "cl_mask_prob": None}


def run_summary(traj: Trajectory, r: int = 0) -> dict:
    """The JSON contract of the command line for run ``r`` of ``traj``: ``delta``, ``config``, ``final``,
    ``history`` (one entry per logged step), ``seconds``. Metrics that do not apply to the run are ``None``."""
    run = traj.runs[r]

    def row(t: int) -> dict:
        return {name: (float(traj.history[name][t, r]) if name in traj.history else None) for name in METRICS}

    settings = run.train.to_dict()
    train_cfg = {k: settings.get(k, OBJECTIVE_DEFAULTS.get(k)) for k in TRAIN_KEYS}
    return {"delta": run.delta, "config": {"data": run.data.to_dict(), "train": train_cfg},
            "final": row(len(traj.steps) - 1), "history": [{"step": s, **row(t)} for t, s in enumerate(traj.steps)],
            "seconds": traj.seconds}


def _table(summary: dict) -> str:
    names = [m for m in METRICS if summary["final"][m] is not None]
    short = {"own_area_attention": "own_attn", "global_area_attention": "global_attn",
             "attention_distance": "distance", "oracle_loss": "oracle"}
    head = ["step"] + [short.get(n, n) for n in names]
    rows = [[str(h["step"])] + [f"{h[n]:.4f}" for n in names] for h in summary["history"]]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    fmt = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows])


PROG = "python -m sslvit"


def _fail(kind: str, message: object, code: int) -> int:
    """One line on stderr (the first line of ``message``), and the exit status ``code``."""
    text = str(message).strip().splitlines()[0] if str(message).strip() else type(message).__name__
    try:
        sys.stderr.write(f"{PROG}: {kind}: {text}\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr itself is gone: the exit status is all that is left
        pass
    return code


def _write(text: str) -> None:
    """Print ``text`` to stdout and flush (so that a full disk or a closed pipe is seen here, not at exit)."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _silence_stdout() -> None:
    """After stdout failed: point it at /dev/null, so that Python's flush at exit does not fail a second time."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


#: the library's field names that the command line spells differently
FLAG_OF_FIELD = {"weight": "--mix", "scale": "--mix-scale", "scale_param": "--scale-param"}


def _as_flags(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message ``name=value is not allowed: ...`` with ``name`` spelled as the flag the user typed."""
    match = re.match(r"(\w+)=", message)
    if match:
        name = match.group(1)
        flag = FLAG_OF_FIELD.get(name, "--" + name.replace("_", "-"))
        train_parser = parser._subparsers._group_actions[0].choices["train"]  # type: ignore[union-attr]
        if flag in train_parser._option_string_actions:
            return flag + message[len(name):]
    return message


def _threads(threads: int) -> None:
    cpus = os.cpu_count() or 1
    if not 1 <= threads <= cpus:
        raise not_allowed("threads", threads, f"an integer from 1 to the number of CPUs of this machine ({cpus})")
    torch.set_num_threads(threads)


def _report(run: Run, traj: Trajectory, as_json: bool) -> None:
    summary = run_summary(traj, 0)
    d, objective = run.data, run.train.objective
    _write(f"{objective.name.upper()}  P={d.patches} K={d.clusters} C_s={d.global_size} C_c={d.local_size} "
           f"N={d.n_areas} layout={d.layout}  Δ={summary['delta']:+.3f}  gamma={run.train.mask_prob} "
           f"lr={run.train.lr:g} steps={run.train.steps} seed={run.train.seed}"
           + (f" lambda={objective.weight:g} c={objective.scale:g} gamma_cl={objective.cl_mask_prob}"
              if isinstance(objective, Mixed) else "") + f"  ({traj.seconds:.1f} s)")
    _write(json.dumps(summary) if as_json else _table(summary))


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run = None
    try:
        if args.threads is not None:
            _threads(args.threads)
        run = configs_from_args(args)
        steps = int(run.train.steps)  # type: ignore[arg-type]
        log_every = args.log_every if args.log_every is not None else max(1, steps // 10)
        if log_every < 1:
            raise not_allowed("log_every", log_every, "a positive integer")
        dtype = torch.float64 if args.dtype == "float64" else torch.float32
        traj = train(run, log_every=log_every, eval_batch=args.eval_batch, dtype=dtype, progress=args.progress,
                     device=args.device)
        _report(run, traj, args.json)
    except (ValueError, TypeError) as e:
        return _fail("error", _as_flags(str(e), parser), 2)
    except TooLarge as e:
        return _fail("too large", e, 2)
    except MemoryError as e:
        return _fail("out of memory", f"{e or 'the machine ran out of memory'}; use a smaller configuration "
                     "(fewer patches, a smaller batch, fewer logged steps)", 2)
    except TrainingDiverged as e:
        return _fail("training diverged", e, 1)
    except TrainingInterrupted as e:
        code = _fail("interrupted", f"stopped at step {e.step} (Ctrl-C); "
                     + ("the metrics logged so far follow" if args.json else "nothing more is printed"), 130)
        if args.json and run is not None:
            try:
                _write(json.dumps({**run_summary(e.trajectory, 0), "interrupted_at_step": e.step}))
            except OSError:
                _silence_stdout()
        return code
    except KeyboardInterrupt:
        return _fail("interrupted", "stopped before training started (Ctrl-C)", 130)
    except RuntimeError as e:
        if "allocate" in str(e):  # torch's allocator: the machine had less memory than the estimate assumed
            return _fail("out of memory", f"{str(e).splitlines()[0]}; use a smaller configuration", 2)
        return _fail("unexpected error (please report it)", f"{type(e).__name__}: {e}", 1)
    except OSError as e:  # the output: a closed pipe, a full disk
        _silence_stdout()
        return _fail("cannot write the output", f"{e.strerror or e}", 1)
    except Exception as e:  # a bug: still one line, and it says so
        return _fail("unexpected error (please report it)", f"{type(e).__name__}: {e}", 1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
