"""The repository's address comes from one place: every GitHub address in the project is ``_config.yml``'s
``repository.url``, and ``_ext/set_repository.py`` moves all of them to a fork's address."""
from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("set_repository", ROOT / "_ext" / "set_repository.py")
set_repository = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(set_repository)


#: addresses that are not the book's: the placeholder of the instructions, this test's fork
NOT_THE_BOOKS = {"https://github.com/OWNER/NAME", "https://github.com/someone/fork-of-book"}


def test_every_address_is_the_configured_one():
    url = set_repository.configured_url()
    others = {f"{path.relative_to(ROOT)}: {found}" for path in set_repository.text_files()
              for found in set_repository.ANY_URL.findall(path.read_text()) if found not in {url, *NOT_THE_BOOKS}}
    assert not others, f"GitHub addresses other than _config.yml's {url}:\n" + "\n".join(sorted(others))


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_fork_gets_its_own_address(tmp_path: Path):
    for name in ("_config.yml", "README.md", "CITATION.cff"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "add", "."], check=True)
    old = set_repository.configured_url(tmp_path)
    changed = set_repository.set_repository("https://github.com/someone/fork-of-book/", tmp_path)
    assert {p.name for p in changed} == {"_config.yml", "README.md", "CITATION.cff"}
    assert set_repository.configured_url(tmp_path) == "https://github.com/someone/fork-of-book"
    for name in ("_config.yml", "README.md", "CITATION.cff"):
        text = (tmp_path / name).read_text()
        assert old not in text and "https://github.com/someone/fork-of-book" in text
    with pytest.raises(SystemExit, match="not allowed"):
        set_repository.set_repository("git@github.com:someone/fork", tmp_path)
