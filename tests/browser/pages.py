"""The book's pages, as the browser checks open them."""
from __future__ import annotations

from pathlib import Path


def toc_pages() -> list[str]:
    """Every page of ``_toc.yml`` (root and chapters), as paths without extension."""
    import yaml

    toc = yaml.safe_load((Path(__file__).resolve().parents[2] / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", [{"chapters": toc.get("chapters", [])}]):
        pages += [c["file"] for c in part.get("chapters", [])]
    return pages
