"""The chaos audit (``make audit``, the book's reproducibility appendix): re-execute every chapter under deliberately different
arithmetic and list every compared output and glued value that changes.

The book's stored outputs are recorded, and compared by nbval, in one arithmetic that every x86-64 CPU reproduces
bit for bit (the recording mode: PyTorch's portable kernels, ``ATEN_CPU_CAPABILITY=default``, and MKL's
conditional numerical reproducibility, ``MKL_CBWR=COMPATIBLE``). A reader who runs a chapter uses the native
kernels of their own CPU instead. The audit asks which of the book's outputs depend on that difference: it runs
nbval over a copy of ``book/`` once per mode below and records each cell whose output differs from the stored one
(a glued value is an output of its cell, so a changed glue shows as a changed cell).

Modes (``--modes``, default all):

* ``native``: the CPU's own ATen kernels and MKL's automatic code path (what a reader's laptop does);
* ``mkl-avx2``, ``mkl-avx512``: native ATen kernels, MKL's AVX2 / AVX-512 code path (``MKL_CBWR``); skipped when a
  probe shows that MKL computes the same bits as in ``native`` on this CPU (MKL ignores a branch the CPU lacks);
* ``threads``: the recording arithmetic, with every chapter's thread count swapped (1 <-> 2);
* ``step-size``: the recording arithmetic, with every step size multiplied by ``1 + 1e-12``
  (``sslvit.core.perturb``), a change in the last bits of every update.

Also recorded: a probe of the recording mode's vendor independence, the bits of a float64 and a float32 matrix
product under every MKL code path this CPU offers (``MKL_CBWR``, ``MKL_ENABLE_INSTRUCTIONS``), in the recording
mode and natively.

Writes a JSON report (``--json``) that the reproducibility appendix shows: per mode and notebook the cells run, their seconds and the
cells that could not be verified (those after a cell that timed out), and every changed cell with its diff.
``--notebooks`` audits some chapters only; with ``--update`` their results replace theirs in an existing report. Exit status 0 when every mode ran (changed outputs are
findings, listed in the report, not failures), 1 when a mode could not run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from sslvit.core.perturb import BOOK_ARITHMETIC

ROOT = Path(__file__).resolve().parents[2]
RECORDING = dict(BOOK_ARITHMETIC)              # the Makefile's ARITHMETIC
NATIVE_UNSET = (*BOOK_ARITHMETIC, "MKL_ENABLE_INSTRUCTIONS")
MODES = {
    "native": {"env": {}, "unset": NATIVE_UNSET, "what": "the CPU's native ATen kernels and MKL's automatic code path"},
    "mkl-avx2": {"env": {"MKL_CBWR": "AVX2"}, "unset": NATIVE_UNSET, "what": "native ATen kernels, MKL's AVX2 path"},
    "mkl-avx512": {"env": {"MKL_CBWR": "AVX512"}, "unset": NATIVE_UNSET,
                   "what": "native ATen kernels, MKL's AVX-512 path"},
    "threads": {"env": RECORDING, "unset": (), "threads": True,
                "what": "the recording arithmetic, every chapter's thread count swapped (1 <-> 2)"},
    "step-size": {"env": {**RECORDING, "SSLVIT_AUDIT_STEP_SIZE_REL": "1e-12"}, "unset": (),
                  "what": "the recording arithmetic, every step size multiplied by 1 + 1e-12"},
}
PROBE = """
import hashlib, numpy, torch
torch.manual_seed(0); torch.set_num_threads(1)
x, y = torch.randn(300, 257, dtype=torch.float64), torch.randn(257, 301, dtype=torch.float64)
h = lambda a: hashlib.sha256(numpy.ascontiguousarray(a).tobytes()).hexdigest()[:12]
a, b = x.numpy(), y.numpy()
print(h((x @ y).numpy()), h((x.float() @ y.float()).numpy()), h(numpy.tanh(a) @ b))
"""
PROBE_SETTINGS = [("default", {}), ("MKL_CBWR=AVX2", {"MKL_CBWR": "AVX2"}), ("MKL_CBWR=AVX512", {"MKL_CBWR": "AVX512"}),
                  ("MKL_CBWR=SSE4_2", {"MKL_CBWR": "SSE4_2"}),
                  ("MKL_ENABLE_INSTRUCTIONS=AVX2", {"MKL_ENABLE_INSTRUCTIONS": "AVX2"}),
                  ("MKL_ENABLE_INSTRUCTIONS=SSE4_2", {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}),
                  ("NumPy without AVX-512", {"NPY_DISABLE_CPU_FEATURES": "X86_V4,AVX512_ICL,AVX512_SPR"}),
                  ("NumPy, OpenBLAS without AVX2", {"NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR",
                                                    "OPENBLAS_CORETYPE": "Nehalem"})]


def mode_env(mode: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in mode["unset"] and k not in RECORDING}
    env.update(mode["env"])
    return env


def probe(env: dict) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return out.stdout.split()


def vendor_probe() -> dict:
    """Bits of a float64 and a float32 torch product (MKL) and of a NumPy computation (tanh, then an OpenBLAS
    product) under each setting of PROBE_SETTINGS, natively and in the recording mode."""
    rows = []
    for name, extra in PROBE_SETTINGS:
        base = {k: v for k, v in os.environ.items() if k not in NATIVE_UNSET}
        native = probe({**base, **extra})
        recording = probe({**base, **extra, **RECORDING})
        rows.append({"setting": name, "native_f64": native[0], "native_f32": native[1], "native_numpy": native[2],
                     "recording_f64": recording[0], "recording_f32": recording[1], "recording_numpy": recording[2]})
    book = {(r["recording_f64"], r["recording_f32"], r["recording_numpy"]) for r in rows}
    return {"rows": rows, "recording_identical": len(book) == 1,
            "native_paths": len({(r["native_f64"], r["native_f32"], r["native_numpy"]) for r in rows})}


def copy_book(dest: Path, swap_threads: bool) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(ROOT / "book", dest, ignore=shutil.ignore_patterns("_build", ".ipynb_checkpoints", "__pycache__"))
    if swap_threads:
        pattern = re.compile(r"torch\.set_num_threads\(([12])\)")
        for nb in dest.glob("*.ipynb"):
            text = nb.read_text()
            nb.write_text(pattern.sub(lambda m: f"torch.set_num_threads({3 - int(m.group(1))})", text))


def code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def uncompared_cells(book: Path) -> list[dict]:
    """The code cells whose output nbval does not compare (tag ``nbval-ignore-output`` or ``nbval-skip``, or the
    comment ``# NBVAL_IGNORE_OUTPUT``), each with its first comment line, which says why."""
    out = []
    for nb in sorted(book.glob("*.ipynb")):
        cells = [c for c in json.loads(nb.read_text())["cells"] if c["cell_type"] == "code"]
        for i, c in enumerate(cells):
            tags = set(c.get("metadata", {}).get("tags", []))
            source = "".join(c["source"])
            if tags & {"nbval-ignore-output", "nbval-skip"} or "NBVAL_IGNORE_OUTPUT" in source:
                comments = [l.strip("# ").strip() for l in source.splitlines()
                            if l.startswith("#") and "NBVAL" not in l]
                out.append({"notebook": nb.name, "cell": i, "why": comments[0] if comments else "",
                            "shown": "remove-cell" not in tags})
    return out


def findings(junit: Path, book: Path) -> tuple[dict, list[dict]]:
    """Per notebook ``{"cells", "seconds", "not_verified"}`` and the cells whose output differs, that raised or that
    timed out, from nbval's JUnit report. A cell after a timeout runs on but cannot be verified (nbval expects it
    to fail): it counts as not verified when it fails."""
    suite = ET.parse(junit).getroot()
    per_nb: dict[str, dict] = {}
    found = []
    for case in suite.iter("testcase"):
        match = re.search(r"([^./]+)\.ipynb", case.get("classname", "") + "." + case.get("file", ""))
        nb_name = f"{match.group(1)}.ipynb" if match else case.get("classname", "?")
        stats = per_nb.setdefault(nb_name, {"cells": 0, "seconds": 0.0, "not_verified": 0})
        stats["cells"] += 1
        stats["seconds"] += float(case.get("time", 0) or 0)
        skipped = case.find("skipped")
        if skipped is not None and "xfail" in (skipped.get("type") or ""):
            stats["not_verified"] += 1
            continue
        bad = case.find("failure") if case.find("failure") is not None else case.find("error")
        if bad is None:
            continue
        cell = int(case.get("name", "Cell -1").split()[-1])
        nb = book / nb_name
        source = code_cells(nb)[cell] if nb.exists() and 0 <= cell else ""
        message = (bad.get("message") or "") + "\n" + (bad.text or "")
        message = re.sub(r"(\x1b|#x1B)\[[0-9;]*m", "", message)
        diff = [l.strip()[:200] for l in message.splitlines()
                if l.strip().startswith(("- ", "+ ", "mismatch ")) or "Error" in l.split(":")[0]]
        kind = ("timeout" if "Timeout of" in message else
                "error" if "exception" in message.lower() and not diff else "output differs")
        found.append({"notebook": nb_name, "cell": cell, "first_line": source.splitlines()[0] if source else "",
                      "kind": kind, "diff": diff[:12]})
    for stats in per_nb.values():
        stats["seconds"] = round(stats["seconds"])
    return per_nb, found


def run_mode(name: str, workdir: Path, timeout: int, notebooks: list[str]) -> dict:
    mode = MODES[name]
    workdir = workdir.resolve()
    book = workdir / name / "book"
    copy_book(book, mode.get("threads", False))
    junit = workdir / name / "nbval.xml"
    junit.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "pytest", "--nbval", "--nbval-current-env", f"--nbval-cell-timeout={timeout}",
           "--nbval-sanitize-with", str(book / "sanitize.cfg"), "-q", "-p", "no:cacheprovider",
           f"--junitxml={junit}"] + ([str(book / nb) for nb in notebooks] or [str(book)])
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=workdir / name, env=mode_env(mode), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    (workdir / name / "nbval.log").write_text(proc.stdout + proc.stderr)
    if not junit.exists():
        raise RuntimeError(f"mode {name}: nbval wrote no report (exit {proc.returncode}); see {workdir / name}/nbval.log")
    per_nb, found = findings(junit, book)
    today = time.strftime("%Y-%m-%d")
    for stats in per_nb.values():
        stats["date"] = today
    print(f"audit {name}: {sum(v['cells'] for v in per_nb.values())} cells, {len(found)} changed, "
          f"{seconds:.0f} s", flush=True)
    return summarise({"mode": name, "what": mode["what"], "env": mode["env"], "notebooks": per_nb, "changed": found})


def summarise(mode: dict) -> dict:
    """Add the totals over the notebooks (``cells``, ``seconds``, ``not_verified``) to a mode's report."""
    for key in ("cells", "seconds", "not_verified"):
        mode[key] = sum(v[key] for v in mode["notebooks"].values())
    return mode


def merge(old: dict, new: dict) -> dict:
    """A mode's report after auditing some notebooks again: their counts and findings replace the old ones."""
    again = set(new["notebooks"])
    merged = {**old, "notebooks": {**old["notebooks"], **new["notebooks"]},
              "changed": [c for c in old["changed"] if c["notebook"] not in again] + new["changed"]}
    return summarise(merged)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, from {', '.join(MODES)}")
    ap.add_argument("--json", type=Path, default=ROOT / "_build" / "audit" / "audit.json")
    ap.add_argument("--workdir", type=Path, default=ROOT / "_build" / "audit")
    ap.add_argument("--cell-timeout", type=int, default=600)
    ap.add_argument("--notebooks", default="", help="comma-separated notebook names in book/ (default: all)")
    ap.add_argument("--update", action="store_true",
                    help="merge into the report at --json: the notebooks audited now replace their earlier results")
    args = ap.parse_args(argv)
    names = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODES]
    if unknown:
        print(f"chaos_audit: unknown mode(s) {unknown}; allowed: {', '.join(MODES)}", file=sys.stderr)
        return 2
    report = {"cpu": cpu_name(), "python": platform.python_version(), "torch": torch_version(),
              "vendor_probe": vendor_probe(), "modes": [], "skipped": [], "uncompared": uncompared_cells(ROOT / "book")}
    previous = json.loads(args.json.read_text()) if args.update and args.json.exists() else None
    if previous is not None:
        report["modes"] = [m for m in previous["modes"] if m["mode"] not in names]
        report["skipped"] = [s for s in previous["skipped"] if s["mode"] not in names]
        earlier = {m["mode"]: m for m in previous["modes"]}
    native_probe = probe(mode_env(MODES["native"]))
    for name in names:
        mode = MODES[name]
        if name.startswith("mkl-") and probe(mode_env(mode)) == native_probe:
            report["skipped"].append({"mode": name, "why": "MKL computes the same bits as in native on this CPU"})
            print(f"audit {name}: skipped, same MKL bits as native on this CPU", flush=True)
            continue
        result = run_mode(name, args.workdir, args.cell_timeout,
                          [n.strip() for n in args.notebooks.split(",") if n.strip()])
        if previous is not None and name in earlier:
            result = merge(earlier[name], result)
        report["modes"].append(result)
    order = list(MODES)
    report["modes"].sort(key=lambda m: order.index(m["mode"]))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(f"audit report: {args.json}")
    return 0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def torch_version() -> str:
    out = subprocess.run([sys.executable, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return out.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
