"""The reader notebooks' pass (_ext/reader_notebooks.py), the launch buttons that open them
(_ext/launch_notebooks.py) and the check of ``make notebooks`` (tests/reader/check_reader_notebooks.py), on small
notebooks made up here; ``make notebooks`` runs the whole conversion on the book."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


rn = _load("reader_notebooks", ROOT / "_ext" / "reader_notebooks.py")
ln = _load("launch_notebooks", ROOT / "_ext" / "launch_notebooks.py")
check = _load("check_reader_notebooks", ROOT / "tests" / "reader" / "check_reader_notebooks.py")
SITE = "https://org.github.io/book/"


def md(text, tags=None):
    return {"cell_type": "markdown", "metadata": {"tags": tags} if tags else {}, "source": text}


def code(text, tags=None):
    return {"cell_type": "code", "metadata": {"tags": tags} if tags else {}, "outputs": [], "source": text}


SOURCE = [
    code("import subprocess  # pip install sslvit", ["remove-cell"]),
    md("# Title\n\nIntro."),
    code("import torch", ["remove-input"]),
    md("## Section"),
    code("x = 1"),
    code('glue_number("a", x, 3)', ["remove-cell"]),
    code("y = helper(x)", ["remove-cell"]),
    md("```{exercise} Try\n:label: ex\n\nDo it.\n```\n\n```{solution-start} ex\n```\nAnswer."),
    code("print(y)"),
    md("```{solution-end}\n```"),
    code('from sslvit.book import glue_running_time\n\nglue_running_time("ch01", START)', ["nbval-ignore-output"]),
]
CONVERTED = [md("# Title\n\nIntro."), md("## Section"), code("x = 1"),
             md("##  (Try)Exercise 1.1\n\nDo it."), md("## Solution to[ Exercise 1.1 (Try)](#ex)\n\nAnswer."),
             code("print(y)"), code('from sslvit.book import glue_running_time\n\nglue_running_time("ch01", START)')]


def test_only_glue():
    assert rn.only_glue('glue_number("a", 1.0, 3)\nglue("b", 2, display=False)')
    assert rn.only_glue('from sslvit.book import glue_running_time\n\nglue_running_time("ch01", START)')
    assert not rn.only_glue('x = f()\nglue_number("a", x, 3)')
    assert not rn.only_glue("import torch")


def test_hidden_code_goes_back_in_place_and_glue_cells_stay_out():
    cells = rn.merge_code(CONVERTED, SOURCE)
    sources = [c["source"] for c in cells]
    assert sources[:3] == ["# Title\n\nIntro.", "import subprocess  # pip install sslvit", "import torch"]
    assert sources.index("y = helper(x)") == sources.index("print(y)") - 1      # before the next shown cell
    assert not any("glue" in s for s in sources)
    assert [c["metadata"].get("tags") for c in cells if c["source"] == "print(y)"] == [["solution"]]


def test_code_that_differs_from_the_source_is_refused():
    with pytest.raises(ValueError, match="code cells"):
        rn.merge_code(CONVERTED[:2] + [code("x = 2")] + CONVERTED[3:], SOURCE)


def test_markdown_for_plain_jupyter():
    cells = rn.fix_markdown([md("# Title"), md("# Learning goals\n\nYou can [do](02_model.ipynb#sec) it."),
                             md("##  (Try)Exercise 1.1\n\nDo it."),
                             md("## Solution to[ Exercise 1.1 (Try)](#ex)\n\nAnswer, see [here](#eq-1)."),
                             code("print(1)", ["solution"]), md("## Next")], "01_data", SITE, solutions=True)
    texts = [c["source"] for c in cells]
    assert texts[1].startswith("> **Learning goals**\n>\n> You can [do](https://org.github.io/book/book/02_model.html#sec)")
    assert texts[2].startswith("**Exercise 1.1** (Try)\n")
    assert texts[3].startswith("<details>\n<summary><b>Solution to Exercise 1.1</b></summary>")
    assert texts[3].endswith("</details>") and "https://org.github.io/book/book/01_data.html#eq-1" in texts[3]
    assert cells[4]["metadata"]["jupyter"] == {"source_hidden": True}
    assert texts[5] == "## Next"


def test_the_student_set_has_no_solution():
    cells = rn.fix_markdown([md("# Title"), md("##  (Try)Exercise 1.1\n\nDo it."),
                             md("## Solution to[ Exercise 1.1 (Try)](#ex)\n\nAnswer."), md("More answer."),
                             code("print(1)", ["solution"]), md("## Next")], "01_data", SITE, solutions=False)
    assert [c["source"] for c in cells] == ["# Title", "**Exercise 1.1** (Try)\n\nDo it.", "## Next"]


def test_config_adds_the_converter():
    stored = "sphinx:\n  extra_extensions:\n    - sphinxcontrib.bibtex\n  local_extensions:\n    x: /a\n  config:\n    a: 1\n"
    out = rn.book_config(stored, "/abs/_ext")
    assert "    - sphinx_tojupyter\n" in out and "    reader_notebooks: /abs/_ext\n" in out
    assert "tojupyter_lang_synonyms: [ipython3, python]" in out
    with pytest.raises(ValueError, match="changed shape"):
        rn.book_config("title: x\n", "/abs/_ext")


def test_launch_buttons_open_the_reader_notebooks():
    urls = ln.reader_urls("https://github.com/OWNER/NAME", "book/04_mae")
    assert urls["Colab"] == "https://colab.research.google.com/github/OWNER/NAME/blob/notebooks/04_mae.ipynb"
    assert urls["Binder"] == "https://mybinder.org/v2/gh/OWNER/NAME/notebooks?labpath=04_mae.ipynb"
    assert rn.site_url("https://github.com/OWNER/NAME") == "https://owner.github.io/NAME/"
    with pytest.raises(ValueError, match="github.com/OWNER/NAME"):
        ln.reader_urls("https://gitlab.com/org/book", "book/04_mae")


def test_the_check_finds_myst_markup():
    nb = {"cells": [md("# Title"), md("About {glue:text}`x` and {doc}`y`."), md("```{note}\nHi\n```"),
                    md("(sec-a)=\n## A"), md(":::{admonition} B\n:class: tip\n:::"), md("# Second title"),
                    md("See [ch 2](02_model.ipynb#x).")]}
    found = " | ".join(check.markup_left(nb))
    for what in ("role", "glue placeholder", "directive fence", "label target", "colon fence", "directive option",
                 "a second title", "local notebook link"):
        assert what in found, (what, found)
    assert check.markup_left({"cells": [md("# Title"), md("> **Note**\n>\n> $x$ and [a](https://x.org/a.html)")]}) == []


def test_the_check_of_a_set(tmp_path):
    src, out = tmp_path / "book", tmp_path / "out"
    src.mkdir(), out.mkdir()
    (src / "01_data.ipynb").write_text(json.dumps({"cells": SOURCE}))
    good = rn.reader_notebook({"cells": CONVERTED}, {"cells": SOURCE}, "01_data", SITE, solutions=True)
    (out / "01_data.ipynb").write_text(json.dumps(good))
    assert check.check_set(out, src, solutions=True) == []
    assert check.check_set(out, src, solutions=False)                     # the solution is still there
    good["cells"] = [c for c in good["cells"] if not c["source"].startswith("<details>")]
    (out / "01_data.ipynb").write_text(json.dumps(good))
    assert any("folded" in p for p in check.check_set(out, src, solutions=True))
    (out / "01_data.ipynb").unlink()
    assert any("missing" in p for p in check.check_set(out, src, solutions=True))
