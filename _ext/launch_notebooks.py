"""Sphinx extension: the web pages' Colab and Binder buttons open the reader notebooks.

The theme's launch buttons open a page's source notebook on the repository's main branch, whose MyST markup
(glued numbers, cross-references, admonitions) Colab and plain Jupyter show raw. The publish workflow pushes the
reader notebooks (``make notebooks``: plain Markdown, numbers filled in) to the branch
:data:`reader_notebooks.BRANCH` of the same repository, with a Binder environment; this extension points the
two buttons there: Colab at ``github/OWNER/NAME/blob/notebooks/PAGE.ipynb``, Binder at the branch with JupyterLab
opening ``PAGE.ipynb``.
"""
from __future__ import annotations

import re
from urllib.parse import quote

BRANCH = "notebooks"


def repository_parts(repository: str) -> tuple[str, str]:
    """``(OWNER, NAME)`` of ``https://github.com/OWNER/NAME``; ``ValueError`` for another address."""
    m = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)/?", repository.strip())
    if not m:
        raise ValueError(f"repository={repository!r} is not allowed: a https://github.com/OWNER/NAME address")
    return m.group(1), m.group(2)


def reader_urls(repository: str, page: str) -> dict[str, str]:
    """The Colab and Binder addresses of the reader notebook of ``page`` (``book/04_mae``)."""
    org, repo = repository_parts(repository)
    name = page.rsplit("/", 1)[-1] + ".ipynb"
    return {"Colab": f"https://colab.research.google.com/github/{org}/{repo}/blob/{BRANCH}/{name}",
            "Binder": f"https://mybinder.org/v2/gh/{org}/{repo}/{BRANCH}?labpath={quote(name)}"}


def _page_context(app, pagename, templatename, context, doctree) -> None:
    repository = app.config.html_theme_options.get("repository_url", "")
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        urls = reader_urls(repository, pagename)
        for button in group.get("buttons", []):
            if button.get("text") in urls:
                button["url"] = urls[button["text"]]


def setup(app):
    app.connect("html-page-context", _page_context, priority=600)   # after the theme's buttons (501)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
