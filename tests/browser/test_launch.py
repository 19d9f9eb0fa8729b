"""The launch buttons of the built pages open the reader notebooks (_ext/launch_notebooks.py): Colab and Binder
point at the branch ``notebooks`` with the page's notebook, never at a source notebook of the main branch, whose
MyST markup Colab shows raw."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from pages import toc_pages

NOTEBOOK_PAGES = [p for p in toc_pages() if (Path(__file__).resolve().parents[2] / f"{p}.ipynb").is_file()]


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_launch_buttons_open_the_reader_notebook(page: str, html_dir: Path) -> None:
    html = (html_dir / f"{page}.html").read_text()
    name = page.rsplit("/", 1)[-1]
    colab = re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html)
    binder = re.findall(r'href="(https://mybinder\.org/[^"]+)"', html)
    assert colab and binder, f"{page}: no Colab or Binder button"
    assert all(u.endswith(f"/blob/notebooks/{name}.ipynb") for u in colab), colab
    assert all(re.search(rf"/notebooks\?labpath={name}\.ipynb$", u.replace("&amp;", "&")) for u in binder), binder
