"""Fixtures of the browser checks: the built HTML (``--html-dir``), headless Chromium, axe-core (``--axe-js``)."""
from __future__ import annotations

from pathlib import Path

import pytest

from fetch_axe import DEST as AXE_JS
from fetch_axe import VERSION as AXE_VERSION


def pytest_addoption(parser):
    parser.addoption("--html-dir", default="_build/check/_build/html", help="the built HTML to check")
    parser.addoption("--axe-js", default=str(AXE_JS), help=f"axe-core {AXE_VERSION}'s axe.min.js")


@pytest.fixture(scope="session")
def driver(request: pytest.FixtureRequest):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = Path("/usr/bin/chromium")
    chromedriver = Path("/usr/bin/chromedriver")
    if not chromium.exists() or not chromedriver.exists():
        pytest.fail("Chromium is missing: install the Debian packages chromium and chromium-driver "
                    "(make test does it: `make browser-deps`)")
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
                 "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 "--allow-file-access-from-files", "--window-size=1280,1600"):
        options.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


@pytest.fixture(scope="session")
def html_dir(request: pytest.FixtureRequest) -> Path:
    path = Path(request.config.getoption("--html-dir")).resolve()
    if not (path / "index.html").exists():
        pytest.fail(f"no built book at {path}: run `make html-check` first")
    return path



@pytest.fixture(scope="session")
def axe_source(request: pytest.FixtureRequest) -> str:
    path = Path(request.config.getoption("--axe-js"))
    if not path.is_file():
        pytest.fail(f"axe-core is missing at {path}: `make browser-deps` fetches it")
    source = path.read_text()
    if f"axe v{AXE_VERSION}" not in source[:200]:
        pytest.fail(f"{path} is not axe-core {AXE_VERSION}")
    return source
