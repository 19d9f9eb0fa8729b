"""Static checks of the committed chapter notebooks (no execution): what nbval compares must survive another
CPU, every figure must show when a reader runs the notebook, and every chapter states its running time.

* **Portable outputs.** nbval compares the stored outputs with a fresh run, which on another CPU (AVX-512,
  AVX2, none) differs from the recording in the last bits of a float. A number printed or glued with 9 or more
  decimals (``0.33048202372184043``, ``1.608131242392119e-05``) carries those bits and fails there; the
  chapters print and glue numbers rounded to the precision that carries meaning.
* **Live figures.** A figure glued with ``display=False`` is invisible to a reader who runs the notebook in
  Jupyter or Colab. Each figure is glued with display (the reader sees it at the cell that makes it), its
  cell is tagged ``remove-output`` (the HTML shows it once, through its ``{glue:figure}`` with a caption).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[1] / "book"
NOTEBOOKS = sorted(BOOK.glob("*.ipynb"))
IMAGE_MIME = ("image/png", "image/jpeg", "image/svg+xml")

#: a float with 9 or more digits after the decimal point, or a mantissa with 9 or more significant digits
LONG_FLOAT = re.compile(r"(?<![\w.])[-+]?(?:\d*\.\d{9,}(?:[eE][-+]?\d+)?|\d\.\d{8,}[eE][-+]?\d+)(?![\w.])")


#: a number at float64 rounding level (exponent -12 or below) printed as a value, not as a bound (1e-17, <=1e-17)
NOISE_VALUE = re.compile(r"(?<![\w.<=])[-+]?(\d\.\d+|[2-9])[eE]-(1[2-9]|[2-9]\d)(?![\w.])")


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else (value if isinstance(value, str) else json.dumps(value))


def _output_texts(cell: dict):
    """``(where, text)`` of every non-image output of a code cell, glue records included."""
    for k, out in enumerate(cell.get("outputs", [])):
        if "text" in out:
            yield f"output {k} ({out.get('name', 'stream')})", _text(out["text"])
        if out.get("output_type") == "error":
            yield f"output {k} (error)", "\n".join(out.get("traceback", []))
        for mime, value in out.get("data", {}).items():
            if not any(mime.endswith(img) for img in IMAGE_MIME):
                yield f"output {k} ({mime})", _text(value)


def long_floats(path: Path) -> list[str]:
    """Every float with 9 or more decimals in a stored output of ``path``, as ``'name cell i, where: value'``."""
    found = []
    for i, cell in enumerate(_cells(path)):
        for where, text in _output_texts(cell):
            found += [f"{path.name} cell {i}, {where}: {m.group(0)}" for m in LONG_FLOAT.finditer(text)]
    return found


def noise_values(path: Path) -> list[str]:
    """Every number at rounding level (``3.47e-18``) printed as a value in a stored output of ``path``."""
    found = []
    for i, cell in enumerate(_cells(path)):
        for where, text in _output_texts(cell):
            found += [f"{path.name} cell {i}, {where}: {m.group(0)}" for m in NOISE_VALUE.finditer(text)
                      if float(m.group(1)) != 1.0]
    return found


def test_long_float_pattern():
    """The scan finds the fragile floats and leaves rounded ones, integers and words alone."""
    hits = LONG_FLOAT.findall("0.33048202372184043 1.608131242392119e-05 -0.09380274266004562 3.469446951953614e-18")
    assert hits == ["0.33048202372184043", "1.608131242392119e-05", "-0.09380274266004562", "3.469446951953614e-18"]
    assert LONG_FLOAT.findall("0.835 1.2e-13 123456789 0.12345678 v1.23456789012 2.5e-07 1.000") == []
    noise = [m.group(0) for m in NOISE_VALUE.finditer("3.47e-18 1.8e-15 5e-17 1e-17 <=1e-12 1.0e-13 2.5e-07 0.0e+00 4e-9")]
    assert noise == ["3.47e-18", "1.8e-15", "5e-17", "1.0e-13"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_full_precision_floats(path: Path):
    """No stored output (printed, displayed or glued) holds a float with 9 or more decimals."""
    found = long_floats(path)
    assert not found, "floats at full precision differ in the last bits on another CPU; round them:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_rounding_noise_is_printed_as_a_bound(path: Path):
    """A number at float64 rounding level (an error of 3.47e-18 on one CPU is 1.73e-18 on another) is printed
    against a fixed tolerance (``sslvit.checks.below``: ``<= 1e-10: yes``), never as a value."""
    found = noise_values(path)
    assert not found, "rounding noise printed as a value; print below(x, tol) instead:\n" + "\n".join(found)


#: how an order-of-magnitude bound printed: "<=1e-17" (no space), or chapter 2's "<= 1e-13", a bound below every
#: tolerance the book states (the smallest is 1e-12), so one that only rounding noise sets
ORDER_BOUND = re.compile(r"<=1e[-+]\d+|<= 1e-(?:1[3-9]|[2-9]\d)\b")


def test_order_bound_pattern():
    """The scan finds a bound printed as an order of magnitude and leaves a fixed tolerance alone."""
    assert ORDER_BOUND.findall("err<=1e-17, [<=1e-07, 0.5], <= 1e-10: yes, <= 1e-06: no") == ["<=1e-17", "<=1e-07"]
    assert ORDER_BOUND.findall("attention  <= 1e-13     <= 1e-13\n") == ["<= 1e-13", "<= 1e-13"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_order_of_magnitude_bounds(path: Path):
    """Rounding noise is reported against a fixed tolerance (``<= 1e-10: yes``), never by its order of magnitude
    (``<=1e-17``), which differs between machines."""
    found = [f"{path.name} cell {i}, {where}: {m.group(0)}" for i, cell in enumerate(_cells(path))
             for where, text in _output_texts(cell) for m in ORDER_BOUND.finditer(text)]
    assert not found, "a bound printed as an order of magnitude; print below(x, tol) instead:\n" + "\n".join(found)


def _is_glued_image(out: dict) -> tuple[str, bool] | None:
    """``(key, displayed)`` of a glued image output, None for any other output."""
    meta = out.get("metadata", {}).get("scrapbook")
    data = out.get("data", {})
    if meta is None:
        return None
    prefix = meta.get("mime_prefix", "")
    if not any(mime[len(prefix):] in IMAGE_MIME for mime in data):
        return None
    return meta["name"], prefix == ""


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figures_show_live_and_once_in_html(path: Path):
    """Every image is a glued figure shown at its cell, the cell's output is removed from the HTML, and the
    notebook's text shows it through a ``{glue:figure}`` (with a caption)."""
    cells = _cells(path)
    markdown = "\n".join(_text(c["source"]) for c in cells if c["cell_type"] == "markdown")
    problems = []
    for i, cell in enumerate(cells):
        tags = cell.get("metadata", {}).get("tags", [])
        for out in cell.get("outputs", []):
            glued = _is_glued_image(out)
            if glued is None:
                if any(mime in out.get("data", {}) for mime in IMAGE_MIME):
                    problems.append(f"cell {i}: an image that is not glued (the HTML would show it without caption)")
                continue
            key, displayed = glued
            if not displayed:
                problems.append(f"cell {i}: figure {key!r} glued with display=False (a reader running it sees nothing)")
            if "remove-output" not in tags and "remove-cell" not in tags:
                problems.append(f"cell {i}: figure {key!r} is displayed but the cell is not tagged remove-output "
                                "(the HTML would show it twice)")
            if not re.search(r"```\{glue:figure\}\s+" + re.escape(key) + r"\s*\n", markdown):
                problems.append(f"cell {i}: figure {key!r} is not shown by a {{glue:figure}} in the text")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


#: a glue:figure directive: its key, then its option lines (``:name: ...``, ``:alt: ...``)
GLUE_FIGURE = re.compile(r"```\{glue:figure\}[ \t]+(\S+)[ \t]*\n((?:[ \t]*:[\w-]+:.*\n)*)")
#: what an alt text must not be: a path, a file name, a key, markup that a screen reader would read out
BAD_ALT = re.compile(r"\.\./|_images|\\|\.(png|jpe?g|svg|pdf)\b|^fig[\w-]*$|[$`{}]|\b\d(\.\d+)?e[-+]?\d+\b",
                     re.IGNORECASE)
MIN_ALT_WORDS = 12


def _glued_image_keys(cells: list[dict]) -> set[str]:
    return {glued[0] for c in cells for out in c.get("outputs", []) if (glued := _is_glued_image(out))}


def alt_text_problems(markdown: str, image_keys: set[str]) -> list[str]:
    """What is wrong with the alt texts of the ``{glue:figure}`` directives in ``markdown`` whose key is an
    image (a glued table needs none): missing, shorter than ``MIN_ALT_WORDS`` words, or a path, file name,
    key or markup (what a screen reader would read instead of a description), or a number in Python's format (``1e-17``)."""
    problems = []
    for match in GLUE_FIGURE.finditer(markdown):
        key, options = match.group(1), match.group(2)
        if key not in image_keys:
            continue
        alts = re.findall(r"^[ \t]*:alt:[ \t]*(.*)$", options, re.MULTILINE)
        if not alts or not alts[0].strip():
            problems.append(f"figure {key!r} has no :alt: text")
            continue
        alt = alts[0].strip()
        if len(alt.split()) < MIN_ALT_WORDS:
            problems.append(f"figure {key!r}: alt text of {len(alt.split())} words ({alt!r}); say what it shows "
                            f"in at least {MIN_ALT_WORDS}")
        if BAD_ALT.search(alt):
            problems.append(f"figure {key!r}: alt text {alt!r} holds a path, file name, key, markup or a Python float format "
                            "(1e-17: write 10⁻¹⁷)")
    return problems


def test_alt_text_problems_finds_each_kind():
    keys = {"fig_a"}
    good = ("```{glue:figure} fig_a\n:name: fig-a\n:alt: A line plot of attention against step in which the own "
            "area rises while the global area falls to zero.\n\nCaption.\n```")
    assert alt_text_problems(good, keys) == []
    assert alt_text_problems(good, set()) == []  # a glued table is not checked
    for alt, word in [("", "no :alt:"), ("A line plot.", "words"), ("../_images/0a1b.png " * 12, "path"),
                      ("The attention $A$ of every query on the global area plotted against training steps.", "markup"),
                      ("A line plot of the NMI against training step in which every run stays flat near 1e-17.", "float")]:
        text = good.replace(good[good.index(":alt:"):good.index("\n\nCaption")], f":alt: {alt}")
        found = alt_text_problems(text, keys)
        assert found and word in found[0] + (found[-1] if len(found) > 1 else ""), (alt, found)
    no_option = good.replace(good[good.index("\n:alt:"):good.index("\n\nCaption")], "")
    assert "no :alt:" in alt_text_problems(no_option, keys)[0]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_figure_has_an_alt_text(path: Path):
    """A screen-reader user hears each figure's alt text: every glued image shown by a ``{glue:figure}`` says in
    a sentence what it shows (the browser check also reads the ``alt`` of every image in the HTML)."""
    cells = _cells(path)
    markdown = "\n".join(_text(c["source"]) for c in cells if c["cell_type"] == "markdown")
    problems = alt_text_problems(markdown, _glued_image_keys(cells))
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


#: a call that puts text on a figure: a title, an axis label, a legend entry, a row or column title
FIGURE_TEXT_CALL = re.compile(r"(set_title|set_xlabel|set_ylabel|suptitle|supxlabel|supylabel|\blabel\s*=|\btitle\s*=|"
                              r"\bxlabel\s*=|\bylabel\s*=|row_labels|col_titles|\btitles\b)")
#: math written as code: C_s, C_c, κ_s, kappa_c, 2^10, a Python float format such as 1e-6
RAW_MATH = re.compile(r"C_[sc]\b|κ_[sc]|kappa_[sc]\b|\^\{?\d|\b\de-\d")
STRING = re.compile(r"""[rRfF]{0,2}(["'])(.*?)(?<!\\)\1""")
PLOTS = Path(__file__).resolve().parents[1] / "lib" / "sslvit" / "plots"


def raw_math_in_figure_text(name: str, source: str) -> list[str]:
    """The lines of ``source`` that put math written as code (``C_s``, ``2^10``, ``1e-6``) on a figure, outside
    ``$...$`` and outside an f-string's ``{...}`` placeholders."""
    found = []
    for n, line in enumerate(source.splitlines(), 1):
        if line.lstrip().startswith("#") or not FIGURE_TEXT_CALL.search(line):
            continue
        for match in STRING.finditer(line):
            text = re.sub(r"\{[^{}]*\}", "", re.sub(r"\$[^$]*\$", "", match.group(2)))
            if RAW_MATH.search(text):
                found.append(f"{name}:{n}: {line.strip()}")
                break
    return found


def test_raw_math_in_figure_text_finds_it():
    assert raw_math_in_figure_text("x", 'ax.set_xlabel("layout C_s/C_c (P = 100)")')
    assert raw_math_in_figure_text("x", 'fig.suptitle(f"P = 2^10 ... {n}")')
    assert raw_math_in_figure_text("x", 'ax.plot(x, y, label="tol 1e-6")')
    assert not raw_math_in_figure_text("x", 'ax.set_xlabel(r"layout $C_s/C_c$ ($P = 100$)")')
    assert not raw_math_in_figure_text("x", 'ax.plot(x, y, label=f"{cfg.kappa_s:g}")')
    assert not raw_math_in_figure_text("x", 'print(f"C_s = {c}")')   # printed text is not figure text


def test_figure_text_sets_math_as_math():
    """Titles, axis labels and legends set their math with ``$...$`` (matplotlib's mathtext): no ``C_s`` with a
    literal underscore, no ``2^10``, no ``1e-6`` on a figure, in the chapters and in ``sslvit.plots``."""
    found = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(_cells(path)):
            if cell["cell_type"] == "code":
                found += raw_math_in_figure_text(f"{path.name} cell {i}", _text(cell["source"]))
    for path in sorted(PLOTS.glob("*.py")):
        found += raw_math_in_figure_text(f"sslvit/plots/{path.name}", path.read_text())
    assert not found, "figure text with math written as code:\n" + "\n".join(found)


#: a number in Python's exponent format (1e-06, 3.2e-7), which the prose writes as a power of ten
PY_EXPONENT = re.compile(r"(?<![\w.])\d(\.\d+)?e[-+]?\d+\b")


def glued_texts(cells: list[dict]) -> dict[str, str]:
    """Glue key -> the plain text of its glued value (what ``{glue:text}`` formats)."""
    out = {}
    for cell in cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            text = o.get("data", {}).get("application/papermill.record/text/plain")
            if name and text is not None:
                out[name] = _text(text)
    return out


def python_exponents_in_prose(markdown: str, glued: dict[str, str]) -> list[str]:
    """Numbers the reader sees in Python's exponent format: written in the prose (outside code and math) or
    pasted by ``{glue:text}`` with an exponent format or as such a number."""
    found = []
    for key, spec in re.findall(r"\{glue:text\}`(\w+)(?::([^`]*))?`", markdown):
        if key not in glued:
            continue
        try:
            shown = format(float(glued[key]), spec) if spec else glued[key]
        except ValueError:
            shown = glued[key]
        if PY_EXPONENT.search(shown):
            found.append(f"{{glue:text}}`{key}{':' + spec if spec else ''}` shows {shown!r}")
    prose = re.sub(r"```.*?```|`[^`]*`|\$\$.*?\$\$|\$[^$]*\$", " ", markdown, flags=re.S)
    found += [f"written: {m.group(0)!r}" for m in PY_EXPONENT.finditer(prose)]
    return found


def glued_markdown(cells: list[dict]) -> dict[str, str]:
    """Glue key -> its glued Markdown (``glue(name, Markdown(...))``)."""
    return {o["metadata"]["scrapbook"]["name"]: _text(o["data"]["application/papermill.record/text/markdown"])
            for cell in cells for o in cell.get("outputs", [])
            if "application/papermill.record/text/markdown" in o.get("data", {}) and "scrapbook" in o.get("metadata", {})}


def math_pasted_as_commonmark(markdown: str, glued: dict[str, str]) -> list[str]:
    """``{glue:md}`key``` without ``:myst`` pastes CommonMark, where ``$...$`` is not math: the reader sees the
    dollars. The keys whose glued Markdown holds math but are pasted so."""
    return [f"{{glue:md}}`{key}` pastes {glued[key]!r} without :myst"
            for key, fmt in re.findall(r"\{glue:md\}`(\w+)(?::(\w+))?`", markdown)
            if fmt != "myst" and "$" in glued.get(key, "")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_glued_math_is_pasted_as_myst(path: Path):
    cells = _cells(path)
    markdown = "\n".join(_text(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert math_pasted_as_commonmark("a {glue:md}`b` c", {"b": "$10^{-6}$"})          # the check can fail
    assert not math_pasted_as_commonmark("a {glue:md}`b:myst` c", {"b": "$10^{-6}$"})
    found = math_pasted_as_commonmark(markdown, glued_markdown(cells))
    assert not found, f"{path.name}:\n" + "\n".join(found)


def test_python_exponents_in_prose_are_found():
    assert python_exponents_in_prose("at most {glue:text}`b:.0e` here", {"b": "1e-06"})
    assert python_exponents_in_prose("at most {glue:text}`b` here", {"b": "1e-06"})
    assert python_exponents_in_prose("an error of 3e-18 in the text", {})
    assert not python_exponents_in_prose("below $10^{-6}$, `1e-6` in code, {glue:text}`x:.3f`", {"x": "0.25"})


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_prose_writes_powers_of_ten(path: Path):
    """The prose writes a small number as a power of ten ($10^{-6}$, or a glue_bound pasted with {glue:md}), not in
    Python's exponent format (1e-06)."""
    cells = _cells(path)
    markdown = "\n".join(_text(c["source"]) for c in cells if c["cell_type"] == "markdown")
    found = python_exponents_in_prose(markdown, glued_texts(cells))
    assert not found, f"{path.name}:\n" + "\n".join(found)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stray_value_under_a_cell(path: Path):
    """No cell ends in an expression whose value Jupyter prints under it (``Out[n]:`` a number, a list, an object's
    repr): what a cell shows is printed, displayed or glued on purpose (a last line that returns a value, such as
    ``plt.close(fig)`` or ``ax.legend()``, ends in ``;`` or is assigned)."""
    stray = [f"cell {i}: {_text(out.get('data', {}).get('text/plain', ''))[:80]!r}"
             for i, cell in enumerate(_cells(path)) for out in cell.get("outputs", [])
             if out.get("output_type") == "execute_result"]
    assert not stray, f"{path.name}: values shown under cells:\n" + "\n".join(stray)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_running_time_stated_at_the_top(path: Path):
    """The first text cell states the chapter's running time from glued numbers measured by the last cell."""
    cells = _cells(path)
    first_md = next(_text(c["source"]) for c in cells if c["cell_type"] == "markdown")
    refs = re.findall(r"\{glue:text\}`(\w+)_runtime_s`", first_md)
    assert len(refs) == 1, f"{path.name}: the first text cell does not state the running time ({{glue:text}}`chNN_runtime_s`)"
    key = f"{refs[0]}_runtime_s"
    timing = [c for c in cells if c["cell_type"] == "code" and f'glue_running_time("{refs[0]}"' in _text(c["source"])]
    assert len(timing) == 1, f"{path.name}: no cell calls glue_running_time({refs[0]!r}, ...)"
    assert timing[0] is [c for c in cells if c["cell_type"] == "code"][-1], f"{path.name}: the timing cell is not the last"
    assert "nbval-ignore-output" in timing[0].get("metadata", {}).get("tags", []), f"{path.name}: timing cell is compared"
    glued = [o for o in timing[0].get("outputs", []) if o.get("metadata", {}).get("scrapbook", {}).get("name") == key]
    assert glued, f"{path.name}: the stored outputs do not hold the glued {key} (execute the notebook)"


def test_power_of_ten():
    from sslvit.book import power_of_ten

    assert [power_of_ten(v) for v in (1e-6, 1e-12, 1.0, 0.0, 3.2e-7, -1e-4, 2.5)] == \
        ["10^{-6}", "10^{-12}", "1", "0", "3.2 \\times 10^{-7}", "-10^{-4}", "2.5"]
    with pytest.raises(ValueError, match="finite"):
        power_of_ten(float("nan"))


def test_round_significant_and_glue_number():
    import numpy as np
    import torch

    from sslvit.book import round_significant

    assert round_significant(0.33048202372184043, 3) == 0.33
    assert round_significant(0.8349629134, 3) == 0.835
    assert round_significant(np.float64(1.608131242392119e-05), 2) == 1.6e-05
    assert round_significant(torch.tensor(2.397436477035389, dtype=torch.float64), 3) == 2.4
    assert round_significant(np.int64(288)) == 288 and isinstance(round_significant(np.int64(288)), int)
    assert round_significant(0.0) == 0.0 and math.isnan(round_significant(float("nan")))
    assert repr(round_significant(np.float64(0.0006934488661873372), 2)) == "0.00069"
    for bad in (True, "0.5", [0.5]):
        with pytest.raises(TypeError):
            round_significant(bad)
    with pytest.raises(ValueError, match="digits"):
        round_significant(0.5, 0)


def test_glued_table_has_a_form_for_the_pdf():
    """A glued table shows an HTML table on the web and a Markdown table (which Sphinx's LaTeX builder can
    typeset) in the PDF, both with the LaTeX headers and formats asked for (in the HTML as MathJax's \\(...\\), in
    a table that MathJax processes, without the unnamed index column)."""
    import pandas as pd

    from sslvit.book import GluedTable

    frame = pd.DataFrame({"P": [256, 1024], "Delta": [-0.25, 0.4], "role": ["below | zero", "above"]})
    table = GluedTable(frame, headers={"Delta": r"$\Delta$"}, formats={"Delta": "${:.2f}$"})
    assert table._repr_html_() == (
        '<table class="dataframe mathjax_process"><thead><tr><th>P</th><th>\\(\\Delta\\)</th><th>role</th></tr></thead>'
        '<tbody><tr><td>256</td><td>\\(-0.25\\)</td><td>below | zero</td></tr>'
        '<tr><td>1024</td><td>\\(0.40\\)</td><td>above</td></tr></tbody></table>')
    assert "&lt;b&gt;" in GluedTable(pd.DataFrame({"x": ["<b>"]}))._repr_html_()   # text is escaped, not markup
    assert table._repr_markdown_().splitlines() == [
        r"| P | $\Delta$ | role |", "|---|---|---|", r"| 256 | $-0.25$ | below \| zero |", "| 1024 | $0.40$ | above |"]
    assert repr(table) == repr(frame)
    with pytest.raises(ValueError, match=r"headers names \['kappa'\]"):
        GluedTable(frame, headers={"kappa": "k"})
    with pytest.raises(ValueError, match="formats"):
        GluedTable(frame, formats={"Delta": "{:.2q}"})
    with pytest.raises(TypeError, match="DataFrame"):
        GluedTable(frame.to_dict())


#: a role (``{glue:text}`x```, ``{term}`y```) inside inline maths, where MyST does not read it: the page shows it raw
INLINE_MATH = re.compile(r"(?<![\\$])\$(?=[^\s$])([^$\n]*?[^\s\\$])?\$(?!\$)")
ROLE = re.compile(r"\{[a-z][a-z0-9:_-]*\}`")


def roles_in_math(text: str) -> list[str]:
    """The inline maths spans of ``text`` (``$...$``, as MyST's dollarmath pairs them) that hold a role."""
    return [m.group(0) for m in INLINE_MATH.finditer(text) if ROLE.search(m.group(0))]


def test_role_in_math_pattern():
    assert roles_in_math("costs about $P^{{glue:text}`exp`}$, more") == ["$P^{{glue:text}`exp`}$"]
    assert not roles_in_math("costs $P$ to the power {glue:text}`exp:.2f`, and $P^{1.75}$ or $ {eq}`x` $")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_role_inside_maths(path: Path):
    bad = [m for c in _cells(path) if c["cell_type"] == "markdown" for m in roles_in_math(_text(c["source"]))]
    assert not bad, f"{path.name}: a role inside $...$ is shown raw: {bad[:3]}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_cell_with_outputs_was_run(path: Path):
    """nbval refuses a stored cell that has outputs but no execution count ("unrun reference cell"), and
    nbformat 4.5 wants an id on every cell: a cell split or added by a script must carry both."""
    nb = json.loads(path.read_text())
    unrun = [i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code" and c.get("outputs")
             and c.get("execution_count") is None]
    no_id = [i for i, c in enumerate(nb["cells"]) if nb.get("nbformat_minor", 0) >= 5 and "id" not in c]
    assert not unrun and not no_id, f"{path.name}: cells with outputs but never run {unrun}, cells without id {no_id}"
