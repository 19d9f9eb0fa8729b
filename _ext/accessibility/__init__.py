"""Sphinx extension: the book's HTML without the accessibility violations of its theme and of docutils.

What axe-core (``tests/browser/test_accessibility.py``) found on the pages, and what this extension changes:

* **Link contrast.** The theme's links (``#176de8``) reach 4.2:1 on the pale blue of definitions and notes, below
  WCAG AA's 4.5:1: ``static/accessibility.css`` sets a darker link colour in light mode (5.1:1 on that blue, 5.8:1
  on white) and sets figure captions in the body text's colour and weight (the theme's light grey, weight 300,
  read faint in both colour modes).
* **Buttons whose visible text is not in their name.** The theme's search button says "Search Ctrl+K" but is
  named "Search"; its colour-mode button is named "Color mode" while its icons carry titles. The two templates in
  ``templates/`` (copies of pydata-sphinx-theme 0.17's components, changed only there) let the search button be
  named by its text and hide the icons from assistive technology.
* **The bibliography's list.** docutils marks each entry ``role="doc-biblioentry"`` (deprecated in DPUB-ARIA
  1.1) inside ``role="list"``, which then has no list items: entries become ``role="listitem"``.
"""
from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parent


def _config_inited(app, config) -> None:
    config.templates_path = [str(HERE / "templates"), *config.templates_path]
    config.html_static_path = [*config.html_static_path, str(HERE / "static")]


def _page_context(app, pagename, templatename, context, doctree) -> None:
    body = context.get("body")
    if isinstance(body, str) and 'role="doc-biblioentry"' in body:
        context["body"] = body.replace('role="doc-biblioentry"', 'role="listitem"')


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _page_context)
    app.add_css_file("accessibility.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
