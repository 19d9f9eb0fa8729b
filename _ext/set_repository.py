"""Point the book at another GitHub repository: ``python _ext/set_repository.py https://github.com/OWNER/NAME``.

The repository's address has one source, ``repository.url`` in ``_config.yml``; the launch buttons and the
repository button of the HTML read it there. The same address is written out where a reader copies it: the
install cell of every notebook (``pip install "sslvit[book] @ git+<url>"``), the citation (``CITATION.cff``, the
README, the reproducibility appendix, the PDF's title page), ``pyproject.toml``'s project URL and CONTRIBUTING. This script replaces
the address of ``_config.yml`` by the new one in every tracked text file, so that a fork publishes under its own
name (the publish workflow runs it with the fork's address); ``tests/test_repository_url.py`` fails when a file
holds another address than ``_config.yml``.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
URL = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
#: a GitHub repository's address anywhere in a text
ANY_URL = re.compile(r"https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def configured_url(root: Path = ROOT) -> str:
    """``repository.url`` of ``_config.yml``."""
    match = re.search(r"^repository:\s*\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*(\S+)", (root / "_config.yml").read_text(),
                      re.MULTILINE)
    if match is None:
        raise SystemExit("set_repository: _config.yml has no repository.url")
    return match.group(1)


def text_files(root: Path = ROOT) -> list[Path]:
    """The tracked files that hold the repository's address."""
    listed = subprocess.run(["git", "-C", str(root), "grep", "-l", "-I", "-F", "https://github.com/"],
                            capture_output=True, text=True)
    if listed.returncode not in (0, 1):  # 1: no file matches; anything else is git failing
        raise SystemExit(f"set_repository: git grep failed: {listed.stderr.strip()}")
    return [root / name for name in listed.stdout.split()]


def set_repository(new: str, root: Path = ROOT) -> list[Path]:
    """Replace ``_config.yml``'s repository address by ``new`` everywhere; the files changed."""
    new = new.rstrip("/").removesuffix(".git")
    if not URL.match(new):
        raise SystemExit(f"set_repository: {new!r} is not allowed: give https://github.com/OWNER/NAME")
    old = configured_url(root)
    changed = []
    for path in text_files(root):
        text = path.read_text()
        if old in text and old != new:
            path.write_text(text.replace(old, new))
            changed.append(path)
    return changed


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python _ext/set_repository.py https://github.com/OWNER/NAME")
    for path in set_repository(sys.argv[1]):
        print(f"set_repository: {path.relative_to(ROOT)}")
