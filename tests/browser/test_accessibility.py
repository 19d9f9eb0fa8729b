"""Accessibility check of the built book: axe-core on every page, in the light and the dark colour mode.

axe-core (Deque's accessibility engine, pinned in ``conftest.py`` and fetched by ``make browser-deps``) is
injected into each page through the Selenium session of the browser check and run with its default rules (WCAG
2.x A and AA, and best practices). The test fails on any violation of impact "critical" or "serious"; the
moderate and minor ones are printed. Nothing is excepted: the fixes of the theme's and docutils' violations are
in ``_ext/accessibility/``.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from pages import toc_pages

FAILING_IMPACTS = ("critical", "serious")

RUN_AXE_JS = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map(n => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\\n').slice(1, 2).join(''))}))))
  .catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));
"""


def violations_that_fail(violations: list[dict]) -> list[str]:
    """One line per failing violation (``id (impact, N nodes): help``), its first nodes indented below."""
    lines = []
    for v in violations:
        if v["impact"] in FAILING_IMPACTS:
            lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']}")
            lines += [f"    {node}" for node in v["nodes"][:3]]
    return lines


def test_violations_that_fail():
    found = [{"id": "color-contrast", "impact": "serious", "help": "contrast", "nodes": ["a.x: 4.2:1"]},
             {"id": "region", "impact": "moderate", "help": "landmarks", "nodes": ["div"]}]
    lines = violations_that_fail(found)
    assert lines[0].startswith("color-contrast (serious, 1 nodes)") and not any("region" in x for x in lines)
    assert violations_that_fail(found[1:]) == []


@pytest.mark.parametrize("mode", ["light", "dark"])
@pytest.mark.parametrize("page", sorted(toc_pages()))
def test_no_serious_accessibility_violation(page: str, mode: str, driver, html_dir: Path, axe_source: str) -> None:
    """axe-core finds no critical or serious violation on ``page`` in colour ``mode``."""
    file = html_dir / f"{page}.html"
    assert file.exists(), f"{file} was not built"
    driver.get(file.as_uri())
    driver.execute_script(f"document.documentElement.dataset.theme = '{mode}';"
                          f"document.documentElement.dataset.mode = '{mode}';")
    time.sleep(0.2)  # the colour mode's styles applied before the contrast is measured
    driver.set_script_timeout(120)
    driver.execute_script(axe_source)
    violations = driver.execute_async_script(RUN_AXE_JS)
    others = [f"{v['id']} ({v['impact']})" for v in violations if v["impact"] not in FAILING_IMPACTS]
    if others:
        print(f"{page} [{mode}]: not failing: {', '.join(others)}")
    failing = violations_that_fail(violations)
    assert not failing, f"{page} [{mode}]: axe-core reports:\n" + "\n".join(failing)
