"""Fetch axe-core, the accessibility engine of ``test_accessibility.py``, from the npm registry.

Pinned by version and by the SHA-512 of its tarball (the registry's ``dist.integrity``); only ``axe.min.js`` is
kept, under ``.venv/share/axe-core-<version>/``. Run by ``make browser-deps``; a second run does nothing.
"""
from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "4.14.1"
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
URL = f"https://registry.npmjs.org/axe-core/-/axe-core-{VERSION}.tgz"
DEST = Path(__file__).resolve().parents[2] / ".venv" / "share" / f"axe-core-{VERSION}" / "axe.min.js"


def fetch(dest: Path = DEST) -> Path:
    """``dest`` holding axe-core ``VERSION``'s ``axe.min.js``, downloaded and checked unless already there."""
    if dest.is_file() and f"axe v{VERSION}" in dest.read_text()[:200]:
        return dest
    with urllib.request.urlopen(URL, timeout=60) as response:
        tarball = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if digest != INTEGRITY:
        raise SystemExit(f"fetch_axe: {URL} has integrity {digest}, expected {INTEGRITY}: not installed")
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        source = tar.extractfile("package/axe.min.js").read()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(source)
    return dest


if __name__ == "__main__":
    try:
        print(f"browser-deps: axe-core {VERSION} at {fetch()}")
    except OSError as error:
        sys.exit(f"fetch_axe: could not fetch {URL}: {error}")
