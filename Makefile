# Every target creates .venv when missing and installs the pinned set into it.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install test lint verify clean book course-book lab student bench notebooks

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

## every test: lint, types, doctests, the numpy reference, TensorFlow as the oracle, the CLI,
## the strict book build and, where Chromium is installed, the explorers in a real browser
test: lint book
	CONVLAB_REQUIRE_TF=1 CONVLAB_REQUIRE_FRAMEWORKS=1 CONVLAB_BOOK_BUILT=1 $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

## the verification table: d_x four ways and d_w three ways, every backend, one config
verify: $(STAMP)
	$(BIN)/convlab verify

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis src/*.egg-info
	rm -rf _build _vendor node_modules

# ---------------------------------------------------------------------------------------
# The book (Jupyter Book 1). The built site loads nothing from other hosts: MathJax comes
# from the npm package pinned in package-lock.json and is served from the site itself.
NPM      ?= npm
BOOK_OUT := _build/html
MATHJAX  := _vendor/mathjax/tex-chtml.js
JUPYTER_SETTINGS := $(VENV)/share/jupyter/lab/settings
LAB_ARGS ?=

node_modules/.package-lock.json: package.json package-lock.json
	$(NPM) ci --ignore-scripts --no-audit --no-fund
	touch $@

# MathJax's combined TeX-to-HTML bundle plus the pieces it loads on demand (extensions,
# fonts, the menu's accessibility tools); served at /mathjax/ through html_extra_path
$(MATHJAX): node_modules/.package-lock.json
	rm -rf _vendor/mathjax
	mkdir -p _vendor/mathjax
	cd node_modules/mathjax/es5 && cp -R tex-chtml.js input output a11y ui sre adaptors \
		$(CURDIR)/_vendor/mathjax/

## the book: every chapter executed; any warning or failing cell fails the build. The
## download menu's .ipynb is the reader's edition (make notebooks), and the front page
## offers convlab's wheel for readers without a clone
book: $(STAMP) $(MATHJAX)
	rm -rf $(BOOK_OUT)
	TF_CPP_MIN_LOG_LEVEL=2 PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/jupyter-book build . --all -W -n --keep-going
	$(BIN)/python -m convlab.notebooks $(BOOK_OUT)/_sources/book --wheel $(BOOK_OUT)/book > /dev/null
	@echo
	@echo "The book is built. Open $(CURDIR)/$(BOOK_OUT)/index.html"

## the course edition of the site, for a class: the book without its solutions (and without
## the instructors' page), its download menu giving each chapter's student notebook; built
## into $(COURSE_OUT)/_build/html, and checked: no line of a solution may be in it.
## make book's site in $(BOOK_OUT) is left as it is
COURSE_OUT := _build/course
course-book: $(STAMP) $(MATHJAX)
	rm -rf $(COURSE_OUT)
	$(BIN)/python -m convlab.course config $(COURSE_OUT) > /dev/null
	TF_CPP_MIN_LOG_LEVEL=2 PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/jupyter-book build . --all -W -n --keep-going --path-output $(COURSE_OUT) \
		--config $(COURSE_OUT)/_config.yml --toc $(COURSE_OUT)/_toc.yml
	$(BIN)/python -m convlab.course finish $(COURSE_OUT)/_build/html
	@echo
	@echo "The course edition is built. Open $(CURDIR)/$(COURSE_OUT)/_build/html/index.html"

## JupyterLab on the repository: the chapters (book/, opened as notebooks by jupytext), the
## reader's edition (_build/notebooks/) and the student edition (_build/student/);
## extra options in LAB_ARGS, e.g. make lab LAB_ARGS='--no-browser --port 8890'
lab: $(STAMP)
	mkdir -p $(JUPYTER_SETTINGS)
	printf '%s\n' '{"@jupyterlab/docmanager-extension:plugin": {"defaultViewers": {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}}}' \
		> $(JUPYTER_SETTINGS)/overrides.json
	$(BIN)/python -m convlab.notebooks _build/notebooks > /dev/null
	$(BIN)/python -m convlab.student _build/student > /dev/null \
		|| echo "make lab: the student edition in _build/student was kept as it is"
	@echo "make lab: the chapters are in book/, the reader's edition in _build/notebooks/,"
	@echo "          the student edition in _build/student/"
	TF_CPP_MIN_LOG_LEVEL=2 PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab \
		--ServerApp.root_dir="$(CURDIR)" --ServerApp.default_url=/lab/tree/book \
		--ServerApp.contents_manager_class=convlab._lab.LabContents $(LAB_ARGS)

## the reader's edition: every chapter as a notebook that carries the whole page (the code
## the chapter includes, equation numbers, exercises, solutions collapsed), no MyST left
notebooks: $(STAMP)
	$(BIN)/python -m convlab.notebooks _build/notebooks

## the student edition: notebooks without solutions, exercise stubs kept, convlab's wheel
## (for students without the clone), and a zip of the folder
student: $(STAMP)
	$(BIN)/python -m convlab.student _build/student $(if $(FORCE),--force)

## the benchmark: every method on layers of every size (tiny to ResNet-like), ratios to
## TensorFlow's native ops and the numpy reference's targets,
## once with TensorFlow's own CPU kernels and once with oneDNN's
bench: $(STAMP)
	mkdir -p _build/bench
	$(BIN)/python -m convlab bench --sweep --json _build/bench/bench.json
	$(BIN)/python -m convlab bench --sweep --onednn --json _build/bench/bench-onednn.json
