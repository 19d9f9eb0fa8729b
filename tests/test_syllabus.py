"""The syllabus page (book/syllabus.md) agrees with the book: its reading times with the chapters' length
(sslvit.book_map.reading_minutes), its prerequisites and core with sslvit.book_map, which draws its map."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sslvit.book_map import CHAPTERS, CORE, MAP_ORDER, NEEDS, chapter_map, depth, reading_minutes

ROOT = Path(__file__).resolve().parents[1]
PAGE = (ROOT / "book" / "syllabus.md").read_text()
ROW = re.compile(r"^\| (\d+) \| \{doc\}`(\w+)` \| (\d+) min \| (none|[\d, ]+) \| ([^|]+) \|$", re.MULTILINE)


def rows() -> dict[int, tuple[str, int, tuple[int, ...], str]]:
    return {int(m.group(1)): (m.group(2), int(m.group(3)),
                              tuple(int(x) for x in m.group(4).replace("none", "").replace(",", " ").split()), m.group(5).strip())
            for m in ROW.finditer(PAGE)}


def test_every_chapter_has_a_row():
    assert sorted(rows()) == sorted(CHAPTERS) == list(range(1, 15))


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_row_agrees_with_the_chapter(chapter: int):
    name, minutes, needs, role = rows()[chapter]
    notebook = ROOT / "book" / f"{name}.ipynb"
    assert notebook.exists() and name.startswith(f"{chapter:02d}_")
    assert abs(minutes - reading_minutes(notebook)) <= 5, (
        f"chapter {chapter}: the syllabus says {minutes} min, its text now reads in {reading_minutes(notebook)} min")
    assert needs == NEEDS[chapter]
    assert (role == "core") == (chapter in CORE)


def test_reading_minutes_counts_prose_and_code(tmp_path: Path):
    import json

    cell = lambda kind, text, tags=(): {"cell_type": kind, "source": text, "metadata": {"tags": list(tags)}}
    nb = {"cells": [cell("markdown", "word " * 1500), cell("code", "x = 1\n" * 100),
                    cell("code", "import os\n" * 500, ["remove-cell"])]}
    (tmp_path / "n.ipynb").write_text(json.dumps(nb))
    assert reading_minutes(tmp_path / "n.ipynb") == 20          # 1500 words / 150 + 100 lines / 10


def test_map_has_every_chapter_once_and_no_cycle():
    assert sorted(MAP_ORDER) == sorted(CHAPTERS)
    assert all(depth(c) > max((depth(n) for n in NEEDS[c]), default=-1) for c in CHAPTERS)
    with pytest.raises(ValueError, match="chapter=15"):
        depth(15)
    import matplotlib

    matplotlib.use("Agg")
    fig = chapter_map()
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert all(f"Chapter {c}" in texts for c in CHAPTERS)
    assert (ROOT / "book" / "images" / "chapter_map.png").exists()
