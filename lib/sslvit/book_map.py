"""The book's chapters for a course (the syllabus page, ``book/syllabus.md``): what each chapter needs, which
chapters are the core, how long each takes to read, and a map of the dependencies.

``python -m sslvit.book_map book/images/chapter_map.png`` draws the map the syllabus shows.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

__all__ = ["CHAPTERS", "NEEDS", "CORE", "depth", "reading_minutes", "chapter_map"]

#: chapter number -> short title
CHAPTERS: dict[int, str] = {
    1: "Spatially structured data", 2: "The one-layer softmax ViT", 3: "The information gap",
    4: "MAE", 5: "CL", 6: "MAE versus CL", 7: "Adam and small batches",
    8: "No dominant area", 9: "Feature assumptions", 10: "Negatives, queue, temperature",
    11: "Mixing MAE and CL", 12: "A richer model", 13: "Real images", 14: "Which conclusions depend on us",
}
#: chapter -> the chapters it builds on (read those first)
NEEDS: dict[int, tuple[int, ...]] = {
    1: (), 2: (1,), 3: (2,), 4: (3,), 5: (3,), 6: (4, 5), 7: (4, 5), 8: (5,), 9: (6,),
    10: (5,), 11: (4, 5), 12: (6,), 13: (6,), 14: (6,),
}
#: the order of the chapters within a row of the map (fewer crossing arrows)
MAP_ORDER = (1, 2, 3, 4, 5, 7, 6, 11, 8, 10, 9, 12, 13, 14)
#: the chapters a course cannot skip: the paper's argument (1-6) and what of it depends on our reconstruction (14)
CORE = (1, 2, 3, 4, 5, 6, 14)
#: reading speed for the book's prose with its mathematics, and for the code a reader looks at
WORDS_PER_MINUTE = 150
CODE_LINES_PER_MINUTE = 10


def depth(chapter: int) -> int:
    """Length of the longest chain of prerequisites that ends at ``chapter`` (0 for chapter 1)."""
    if chapter not in NEEDS:
        raise ValueError(f"chapter={chapter!r} is not allowed: one of {sorted(NEEDS)}")
    return max((depth(c) + 1 for c in NEEDS[chapter]), default=0)


def reading_minutes(notebook: str | Path) -> int:
    """Estimated reading time of a chapter notebook in minutes, rounded to 5: its prose at ``WORDS_PER_MINUTE``
    (directive options, roles and fences not counted) and its visible code at ``CODE_LINES_PER_MINUTE``; the
    exercises' solutions count as prose, working the exercises does not."""
    cells = json.loads(Path(notebook).read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    text = re.sub(r"^:[\w-]+:.*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", "x", text)
    text = re.sub(r"```[^\n]*", "", text)
    hidden = {"remove-cell", "remove-input"}
    code = sum(len("".join(c["source"]).splitlines()) for c in cells
               if c["cell_type"] == "code" and not hidden & set(c.get("metadata", {}).get("tags", [])))
    minutes = len(text.split()) / WORDS_PER_MINUTE + code / CODE_LINES_PER_MINUTE
    return max(5, 5 * round(minutes / 5))


def chapter_map():
    """The chapters as boxes in rows of :func:`depth` (read from the top), an arrow from each chapter to those
    that build on it; the core chapters filled, the others outlined. Drawn 6 inches wide, the size the book shows
    it, with text of at least 8 points. Returns the figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    import textwrap

    columns: dict[int, list[int]] = {}
    for chapter in MAP_ORDER:
        columns.setdefault(depth(chapter), []).append(chapter)
    width, height, step_x, step_y = 1.12, 0.62, 1.24, 0.98        # a row per depth, read from the top
    place = {}
    for row, chapters in columns.items():
        for i, chapter in enumerate(chapters):          # a row centred on the middle
            place[chapter] = ((i - (len(chapters) - 1) / 2) * step_x, -row * step_y)
    xs, ys = [p[0] for p in place.values()], [p[1] for p in place.values()]
    x_range = (min(xs) - width / 2 - 0.05, max(xs) + width / 2 + 0.05)
    y_range = (min(ys) - height / 2 - 0.05, max(ys) + height / 2 + 0.05)
    inch = 6.0 / (x_range[1] - x_range[0])             # shown at its size: text of 8 points and more
    fig, ax = plt.subplots(figsize=(6.0, inch * (y_range[1] - y_range[0])))
    for chapter, (x, y) in place.items():
        core = chapter in CORE
        ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height, boxstyle="round,pad=0.02",
                                    facecolor="#cfe3f7" if core else "white", edgecolor="#1f4e79", lw=1.2))
        ax.text(x, y + 0.17, f"Chapter {chapter}", ha="center", va="center", fontsize=8.5, weight="bold")
        ax.text(x, y - 0.1, textwrap.fill(CHAPTERS[chapter], 18), ha="center", va="center", fontsize=8,
                linespacing=1.05)
    for chapter, needs in NEEDS.items():
        for before in needs:
            (x0, y0), (x1, y1) = place[before], place[chapter]
            ax.annotate("", xy=(x1, y1 + height / 2), xytext=(x0, y0 - height / 2),
                        arrowprops=dict(arrowstyle="-|>", color="0.35", lw=0.9, shrinkA=1, shrinkB=1))
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.axis("off")
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1)
    return fig


if __name__ == "__main__":  # pragma: no cover - writes the syllabus page's figure
    import matplotlib

    matplotlib.use("Agg")
    if len(sys.argv) != 2:
        sys.exit("usage: python -m sslvit.book_map OUTPUT.png")
    chapter_map().savefig(sys.argv[1], dpi=110, bbox_inches="tight")
