"""A reader's environment, end to end: build the library's wheel, install it with its ``book`` extra into a
fresh virtual environment (the versions pinned in requirements.txt, from the package index the Makefile uses),
and execute a chapter there with plain nbclient, outside the repository.

Run by ``make reader-test`` (part of ``make test``)::

    python tests/reader/check_reader_env.py [--chapter book/01_data.ipynb] [--workdir _build/reader]

Fails (exit status 1, with the reason) when the wheel does not build, the install fails or leaves broken
requirements, the library is imported from anywhere but the fresh environment, or a cell of the chapter
fails or displays no figure.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
for cell in nb.cells:
    if cell.cell_type == "code":
        cell.outputs = []
# one more cell: where the kernel found the library
nb.cells.append(nbformat.v4.new_code_cell("import sslvit; print('sslvit from', sslvit.__file__, end=';')"))
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, path)
figures = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
where = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
print(f"{where} {len(nb.cells) - 1} cells executed, {figures} figures displayed, {len(errors)} errors")
if errors or figures == 0:
    sys.exit("the chapter failed or displayed no figure")
"""


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join("<script>" if "\n" in str(c) else str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chapter", default="book/01_data.ipynb", help="the notebook to execute")
    parser.add_argument("--workdir", default="_build/reader", help="scratch folder (emptied first)")
    args = parser.parse_args()
    chapter = (ROOT / args.chapter).resolve()
    work = (ROOT / args.workdir).resolve()
    if not chapter.is_file():
        parser.error(f"--chapter {args.chapter}: no such notebook")
    shutil.rmtree(work, ignore_errors=True)
    (work / "dist").mkdir(parents=True)
    start = time.perf_counter()

    # 1. the wheel, built from the repository (setuptools of the build environment, no other dependency)
    leftover = not (ROOT / "build").exists()          # setuptools builds in ROOT/build: remove it after
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", work / "dist", ROOT])
    if leftover:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    wheels = sorted((work / "dist").glob("sslvit-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one sslvit wheel in {work / 'dist'}, found {wheels}")

    # 2. a fresh environment with only the wheel and its book extra, at the pinned versions
    venv.create(work / "venv", with_pip=True, clear=True)
    py = work / "venv" / "bin" / "python"
    run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-c", ROOT / "requirements.txt",
         f"{wheels[0]}[book]"])
    run([py, "-m", "pip", "check"])

    # 3. the chapter, copied out of the repository so nothing but the installed wheel can be imported
    nb_dir = work / "chapter"
    nb_dir.mkdir()
    target = nb_dir / chapter.name
    shutil.copy(chapter, target)
    result = run([py, "-c", EXECUTE, target, nb_dir], cwd=nb_dir, capture_output=True, text=True)
    print(result.stdout.strip())
    imported_from = result.stdout.split("sslvit from ", 1)[1].split(";", 1)[0]
    if not imported_from.startswith(str(work / "venv")):
        sys.exit(f"sslvit was imported from {imported_from}, not from the fresh environment")
    print(f"reader environment: {chapter.name} executed from the wheel {wheels[0].name} "
          f"in {time.perf_counter() - start:.0f} s (install included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
