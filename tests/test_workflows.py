"""The GitHub workflows (``.github/workflows/``): valid against GitHub's workflow schema, clean under zizmor's
audits (unpinned actions, credentials left in the checkout, template injection, excessive permissions), and
calling only make targets and scripts that exist."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed (it is pinned in requirements.txt: make venv)")
    return str(path)


def test_the_three_workflows_exist():
    assert {p.name for p in WORKFLOWS} == {"test.yml", "publish.yml", "linkcheck.yml"}


def test_workflows_match_githubs_schema():
    done = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                           *map(str, WORKFLOWS)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_finds_nothing():
    done = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(ROOT / ".github" / "workflows")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_can_fail(tmp_path: Path):
    """The linter sees a real problem: an action by tag, credentials kept, an input pasted into a script."""
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "name: bad\non:\n  pull_request_target:\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - uses: actions/checkout@v4\n      - run: echo ${{ github.event.pull_request.title }}\n")
    done = subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(bad)], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode != 0 and "template-injection" in done.stdout + done.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_call_what_exists(path: Path):
    text = path.read_text()
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"\bmake ([a-z][\w-]*)", text):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"{path.name}: no make target {target}"
    for script in re.findall(r"python ([\w/.-]+\.py)", text):
        assert (ROOT / script).is_file(), f"{path.name}: {script} does not exist"
    for local in re.findall(r"uses: \./([\w/.-]+)", text):
        assert (ROOT / local).is_file(), f"{path.name}: {local} does not exist"
    for action in re.findall(r"uses: ([\w-]+/[\w-]+)@(\S+)", text):
        assert re.fullmatch(r"[0-9a-f]{40}", action[1]), f"{path.name}: {action[0]} is not pinned by a commit"
