def pytest_addoption(parser):
    parser.addoption("--html-dir", default="_build/check/_build/html", help="the built HTML to check")
