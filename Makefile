# Build, test and benchmark the sslvit book.
#
#   make book    build the book (executes every notebook, warnings are errors); HTML in _build/html/index.html
#   make test    unit tests, nbval over the notebooks (in the book's one arithmetic), a reader's fresh install, browser and PDF checks
#   make student the HTML without the exercises' solutions, for a course (from the stored outputs); _build/student
#   make notebooks  the reader notebooks for Colab, Binder and plain Jupyter (no MyST); _build/notebooks
#   make pdf     the PDF edition from the stored outputs (XeLaTeX; installs TeX Live's needs); _build/pdf/book.pdf
#   make site    the HTML and the PDF as the publish workflow puts them online; _build/site
#   make linkcheck  follow every external link of the book (needs the internet)
#   make record  re-execute notebooks in place and store their outputs (NB=book/04_mae.ipynb for one)
#   make bench   benchmark of the training engine (BENCH_ARGS=--quick for a short run)
#   make measurements  the long measurements the book reads (Phase I up to P = 4096, chapter 6's P = 256 diagram)
#   make audit   the chaos audit: every chapter under other arithmetic, every output that changes (the reproducibility appendix)
#   make venv    create .venv and install the pinned requirements (done by the targets above)
#   make clean   remove build outputs; `make distclean` also removes .venv
#
# Everything runs inside .venv, created from $(PYTHON) (Python 3.11) on first use.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sslvit-installed

export PYTHONHASHSEED := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

NOTEBOOKS := $(wildcard book/*.ipynb book/*/*.ipynb)
SANITIZE := $(wildcard book/sanitize.cfg)
# --nbval compares every stored output; switch to --nbval-lax to check only cells marked # NBVAL_CHECK_OUTPUT
NBVAL_MODE ?= --nbval
# One arithmetic for the stored outputs (the reproducibility appendix): they are recorded (`make record`) and compared (nbval) with
# PyTorch's portable kernels (ATEN_CPU_CAPABILITY=default), MKL's conditional numerical reproducibility
# (MKL_CBWR=COMPATIBLE), NumPy's baseline kernels (its AVX2 and AVX-512 dispatch disabled) and one OpenBLAS kernel
# for NumPy's linear algebra, which give the same bits on every x86-64 CPU, Intel or AMD, AVX2 or AVX-512; every
# chapter fixes its thread count. What changes under the reader's native arithmetic is listed by `make audit`.
ARITHMETIC := ATEN_CPU_CAPABILITY=default MKL_CBWR=COMPATIBLE \
              NPY_DISABLE_CPU_FEATURES=X86_V3,X86_V4,AVX512_ICL,AVX512_SPR OPENBLAS_CORETYPE=Nehalem
# `make book` runs PyTorch's thread pool (OpenMP) with threads that sleep while they wait for work instead of
# spinning: on a machine where another process is busy, a spinning thread holds a core the other process needs
# (chapter 4's training cell, 100 steps: 70 s spinning, 44 s sleeping); on an idle machine spinning is about 15%
# faster (34 s, 40 s), so `make test` and `make record`, which run on a machine of their own, keep the default. The
# reproducibility appendix has the numbers. Scheduling only: no result changes.
SHARING := OMP_WAIT_POLICY=PASSIVE
NBVAL_FLAGS := $(NBVAL_MODE) --nbval-current-env --nbval-cell-timeout=300 \
               $(if $(SANITIZE),--nbval-sanitize-with $(SANITIZE))
# -n (nitpicky) also flags every {py:func} role that no API page resolves
BOOK_FLAGS ?= --all -W --keep-going
# the browser check renders the committed notebooks (no execution) here
CHECK_DIR := _build/check
# _config.yml for a build from the stored outputs in another folder: execution off, and every local extension's
# folder (`name: _ext` under local_extensions) made absolute
STORED_CONFIG = sed -E -e 's/^([[:space:]]*execute_notebooks:).*/\1 "off"/' \
                       -e 's|^([[:space:]]+[A-Za-z_][A-Za-z0-9_]*:)[[:space:]]*_ext([[:space:]].*)?$$|\1 $(CURDIR)/_ext\2|' _config.yml
BROWSER_TESTS := $(wildcard tests/browser/test_*.py)
BENCH_ARGS ?= --json _build/bench/bench_engine.json
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# The reader notebooks (make notebooks) and their build
NOTEBOOKS_OUT := _build/notebooks
NOTEBOOKS_BUILD := _build/notebooks-build

.PHONY: notebooks site linkcheck audit help venv test unit-test notebook-test reader-test browser-test pdf-test html-check student pdf pdf-deps browser-deps book record bench measurements clean distclean

help:
	@sed -n '2,17p' Makefile | sed 's/^# \{0,1\}//'

venv: $(STAMP)

# Re-installs when the pins or the package metadata change; a second run is a no-op.
$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install -e . --no-deps
	touch $@

test: unit-test notebook-test reader-test browser-test pdf-test

unit-test: venv
	@rc=0; $(PY) -m pytest tests --ignore=tests/browser -q || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no unit tests collected in tests/"; \
	elif [ $$rc -ne 0 ]; then exit $$rc; fi

notebook-test: venv unit-test
ifneq ($(strip $(NOTEBOOKS)),)
	env $(ARITHMETIC) $(PY) -m pytest $(NBVAL_FLAGS) $(or $(NB),book) -q
else
	@echo "make test: no notebooks in book/, nbval skipped"
endif

# A reader's environment: the library's wheel with its `book` extra in a fresh virtual environment executes a chapter.
# a reader's fresh install of the wheel, running chapter 1's reader notebook (as Colab or Binder opens it)
reader-test: venv notebook-test notebooks
	$(PY) tests/reader/check_reader_env.py --chapter $(NOTEBOOKS_OUT)/01_data.ipynb --workdir _build/reader

# The reader notebooks: Sphinx's "jupyter" builder (sphinx-tojupyter) writes every page as a notebook of plain
# Markdown from the stored outputs (roles resolved, glued values substituted), _ext/reader_notebooks.py puts
# back the hidden install and import cells, folds the solutions and writes the student set; then checked.
notebooks: venv
	@mkdir -p $(NOTEBOOKS_BUILD)
	$(STORED_CONFIG) | $(PY) _ext/reader_notebooks.py config --ext-dir $(CURDIR)/_ext > $(NOTEBOOKS_BUILD)/_config.yml
	$(VENV)/bin/jupyter-book build . --builder custom --custom-builder jupyter --config $(NOTEBOOKS_BUILD)/_config.yml \
	    --path-output $(NOTEBOOKS_BUILD) --all --keep-going > $(NOTEBOOKS_BUILD)/build.log 2>&1 || { tail -30 $(NOTEBOOKS_BUILD)/build.log; exit 1; }
	$(PY) _ext/reader_notebooks.py convert --raw $(NOTEBOOKS_BUILD)/_build/jupyter/book --out $(NOTEBOOKS_OUT)
	$(PY) tests/reader/check_reader_notebooks.py $(NOTEBOOKS_OUT)

browser-test: venv reader-test
ifneq ($(strip $(BROWSER_TESTS)),)
	$(MAKE) --no-print-directory html-check browser-deps
	$(PY) -m pytest tests/browser --html-dir $(CHECK_DIR)/_build/html -q
else
	@echo "make test: no browser tests in tests/browser, skipped"
endif

# The book's HTML rendered from the notebooks as committed (their stored outputs, no execution).
html-check: venv
	@mkdir -p $(CHECK_DIR)
	$(STORED_CONFIG) > $(CHECK_DIR)/_config.yml
	$(VENV)/bin/jupyter-book build . --config $(CHECK_DIR)/_config.yml --path-output $(CHECK_DIR) $(BOOK_FLAGS)

# The student edition: the same HTML from the stored outputs, with every exercise's solution removed from a copy
# of the sources (_ext/student_edition.py).
STUDENT_DIR := _build/student
student: venv
	$(PY) _ext/student_edition.py $(STUDENT_DIR)/src
	cd $(STUDENT_DIR)/src && $(CURDIR)/$(VENV)/bin/jupyter-book build . --path-output .. $(BOOK_FLAGS)
	@echo "student edition (no solutions): $(STUDENT_DIR)/_build/html/index.html"

# What the publish workflow puts online (.github/workflows/publish.yml): the HTML from the stored outputs with
# the PDF beside it (sslvit-book.pdf), in _build/site.
SITE_DIR := _build/site
site: html-check pdf
	rm -rf $(SITE_DIR)
	cp -r $(CHECK_DIR)/_build/html $(SITE_DIR)
	touch $(SITE_DIR)/.nojekyll
	@echo "the site is at $(CURDIR)/$(SITE_DIR)/index.html"

# Every external link of the book followed (Sphinx's linkcheck builder; needs the internet; weekly in
# .github/workflows/linkcheck.yml).
linkcheck: venv
	@mkdir -p _build/linkcheck
	$(STORED_CONFIG) > _build/linkcheck/_config.yml
	$(VENV)/bin/jupyter-book build . --builder linkcheck --config _build/linkcheck/_config.yml --path-output _build/linkcheck

# The PDF edition: the LaTeX builder on the notebooks as committed (no execution), XeLaTeX via latexmk.
PDF_DIR := _build/pdf
pdf: venv pdf-deps
	@mkdir -p $(PDF_DIR)
	$(STORED_CONFIG) > $(PDF_DIR)/_config.yml
	$(VENV)/bin/jupyter-book build . --builder pdflatex --config $(PDF_DIR)/_config.yml --path-output $(PDF_DIR)
	cp $(PDF_DIR)/_build/latex/book.pdf $(PDF_DIR)/book.pdf
	@for html in _build/html $(CHECK_DIR)/_build/html; do \
	  if [ -d $$html ]; then cp $(PDF_DIR)/book.pdf $$html/sslvit-book.pdf; echo "copied into $$html/sslvit-book.pdf"; fi; \
	done
	@echo "The PDF is at $(CURDIR)/$(PDF_DIR)/book.pdf"

# The PDF edition built and checked: no LaTeX error, no missing character, no unresolved reference, every figure.
pdf-test: venv browser-test
	$(MAKE) --no-print-directory pdf
	$(PY) tests/pdf/check_pdf.py --pdf $(PDF_DIR)/book.pdf --log $(PDF_DIR)/_build/latex/book.log

# XeLaTeX, latexmk, the fonts and xindy of Sphinx's LaTeX builder, and poppler's tools (Debian/Ubuntu packages).
PDF_PACKAGES := texlive-xetex latexmk texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended \
                fonts-freefont-otf xindy poppler-utils
pdf-deps:
	@if command -v xelatex >/dev/null && command -v latexmk >/dev/null && command -v xindy >/dev/null \
	    && command -v pdfimages >/dev/null; then \
	  echo "pdf-deps: xelatex, latexmk, xindy and poppler-utils are installed"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(PDF_PACKAGES); \
	else \
	  echo "pdf-deps: install XeLaTeX, latexmk, xindy and poppler-utils (Debian: $(PDF_PACKAGES))" >&2; exit 1; \
	fi

# Headless Chromium and its WebDriver for tests/browser (Debian/Ubuntu packages; elsewhere install them by hand),
# and axe-core for the accessibility check (from the npm registry, pinned by version and hash: tests/browser/fetch_axe.py).
browser-deps: venv
	$(PY) tests/browser/fetch_axe.py
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "browser-deps: /usr/bin/chromium and /usr/bin/chromedriver are installed"; \
	elif command -v apt-get >/dev/null; then \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium chromium-driver; \
	else \
	  echo "browser-deps: install Chromium as /usr/bin/chromium and ChromeDriver as /usr/bin/chromedriver" >&2; exit 1; \
	fi

book: venv
	env $(SHARING) $(VENV)/bin/jupyter-book build . $(BOOK_FLAGS)
	@if [ -f $(PDF_DIR)/book.pdf ]; then cp $(PDF_DIR)/book.pdf _build/html/sslvit-book.pdf; fi
	@echo "The book is at $(CURDIR)/_build/html/index.html"

# Execute notebooks top to bottom on a fresh kernel and store their outputs, in the book's one arithmetic.
record: venv
	env -u MKL_ENABLE_INSTRUCTIONS $(ARITHMETIC) $(VENV)/bin/jupyter-execute --inplace --timeout=600 \
	    $(or $(NB),$(NOTEBOOKS))

# The chaos audit (the reproducibility appendix): every chapter re-executed under other arithmetic (native kernels, MKL's AVX2 and
# AVX-512 paths where this CPU has them, swapped thread counts, step sizes x (1 + 1e-12)); lists every output that
# changes. AUDIT_MODES=native,threads for a subset. Copy _build/audit/audit.json to lib/sslvit/results/ to ship it.
AUDIT_MODES ?= native,mkl-avx2,mkl-avx512,threads,step-size
audit: venv
	$(PY) tests/audit/chaos_audit.py --modes $(AUDIT_MODES) --json _build/audit/audit.json

bench: venv
	@mkdir -p _build/bench
	$(PY) benchmarks/bench_engine.py $(BENCH_ARGS)

# About 65 minutes on 2 cores; writes _build/measurements/*.json. Copy them to lib/sslvit/results/ to ship them.
measurements: venv
	@mkdir -p _build/measurements
	$(PY) benchmarks/phase_length.py --json _build/measurements/phase_length.json
	$(PY) benchmarks/phase_diagram.py --json _build/measurements/phase_diagram.json
	env $(ARITHMETIC) $(PY) benchmarks/sensitivity_seeds.py --json _build/measurements/sensitivity_seeds.json

clean:
	rm -rf _build .pytest_cache
	find . -path ./$(VENV) -prune -o -type d \( -name __pycache__ -o -name .ipynb_checkpoints \) -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) lib/*.egg-info
