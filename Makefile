# Set-up and everyday commands. `make demo` and `make test` work on a fresh machine.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.dagstudio-installed
LABEXT := $(VENV)/share/jupyter/labextensions/dagstudio-jupyter
PORT ?= 8888
# apt needs root; use sudo when we are not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
# Keep JupyterLab from calling hosts on the internet at start-up.
LAB_OFFLINE := --LabApp.extension_manager=readonly --LabApp.news_url=None \
	--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate

.PHONY: install system-deps build js-test demo test bench bench-quick lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): $(PY) pyproject.toml package.json package-lock.json
	npm ci --no-audit --no-fund
	$(PY) -m pip install --quiet -e ".[test]"
	# The editable install copies the JupyterLab extension; a link to the
	# build output instead lets `make build` update it in place (what
	# `jupyter labextension develop` does, without its rebuild).
	rm -rf $(LABEXT) && ln -s $(CURDIR)/dagstudio_jupyter/labextension $(LABEXT)
	touch $@

system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

install: $(STAMP) system-deps

# The editable install bundles the front end once; this rebuilds it after edits
# (the widget, and the JupyterLab extension with the venv's jupyter-builder).
build: $(STAMP)
	PATH="$(abspath $(VENV))/bin:$$PATH" npm run build:all

js-test: build
	npm test
	npm run typecheck

demo: install build
	$(VENV)/bin/jupyter lab notebooks/quickstart.ipynb --ip=127.0.0.1 --port=$(PORT) \
		--no-browser $(ROOT_FLAG) $(LAB_OFFLINE)

test: install js-test
	$(PY) -m pytest

# Each benchmark prints our figure, a peer's from the same run, and the ratio
# (see benchmarks/README.md). The suite runs the quick mode of each.
BENCHMARKS = scheduler store live recovery kernel render

bench: install build
	@set -e; for name in $(BENCHMARKS); do \
		echo "== benchmarks/$$name.py"; $(PY) benchmarks/$$name.py; done

bench-quick: install build
	@set -e; for name in $(BENCHMARKS); do \
		echo "== benchmarks/$$name.py --quick"; $(PY) benchmarks/$$name.py --quick; done

lint: $(STAMP)
	$(VENV)/bin/ruff check dagstudio_jupyter tests benchmarks
	$(VENV)/bin/ruff format --check dagstudio_jupyter tests benchmarks

clean:
	rm -rf $(VENV) node_modules build dagstudio_jupyter/static dagstudio_jupyter/labextension test-output
