"""Sphinx extension: serve MathJax 3 from the book's own ``_static`` folder instead of a CDN.

The book's pages then typeset their math without network access (offline reading, the browser check in
``tests/browser``, machines that reach only package registries). The MathJax files come from the PyPI
package ``django-static-mathjax`` (MathJax 3.2.2, no dependencies; pinned in ``requirements.txt``): the
combined component ``tex-mml-chtml.js`` (the one Sphinx loads from the CDN by default) and the folders it
loads on demand (TeX extensions, CHTML fonts, accessibility, menu). When that package is not installed the
build keeps Sphinx's default CDN address.
"""
from __future__ import annotations

import shutil
from pathlib import Path

#: what tex-mml-chtml.js loads lazily, relative to MathJax's es5/ folder
_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "a11y", "adaptors", "ui", "sre")
_TARGET = "mathjax"  # under _static/


def _es5_dir() -> Path | None:
    try:
        import mathjax  # django-static-mathjax
    except ImportError:
        return None
    es5 = Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    return es5 if (es5 / "tex-mml-chtml.js").is_file() else None


def _config_inited(app, config) -> None:
    if _es5_dir() is not None:
        config.mathjax_path = f"{_TARGET}/tex-mml-chtml.js"  # relative: resolved against _static/


def _build_finished(app, exception) -> None:
    es5 = _es5_dir()
    if exception is not None or es5 is None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / _TARGET
    for part in _PARTS:
        src = es5 / part
        if src.is_dir():
            shutil.copytree(src, dest / part, dirs_exist_ok=True)
        elif src.is_file():
            (dest / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / part)


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("build-finished", _build_finished)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
