# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create or refresh the local .venv (Python 3.11, the only Python bpy 5.0.1 supports).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench sheets clean extension lint

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

# Two workers by default, one per core of the project's 2-core machines (each runs torch on one thread, see
# tests/conftest.py); each test file stays on one worker so its module fixtures are built once.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(STAMP)
	$(PY) -m bench

sheets: $(STAMP)
	$(PY) scripts/contact_sheets.py

# The installable Blender extension zip, built and validated by Blender's own tool (shipped in the bpy wheel).
BLENDER_EXT = $(PY) -c "import bpy, os, runpy, sys; sys.argv = ['blender_ext.py', *sys.argv[1:]]; \
	runpy.run_path(os.path.join(bpy.utils.system_resource('SCRIPTS'), 'addons_core/bl_pkg/cli/blender_ext.py'), \
	run_name='__main__')"

extension: $(STAMP)
	mkdir -p dist
	$(BLENDER_EXT) validate .
	$(BLENDER_EXT) build --source-dir . --output-dir dist

# Type checking of the add-on against fake-bpy-module, in its own venv (it cannot share one with bpy).
LINT_VENV := .lint-venv
LINT_STAMP := $(LINT_VENV)/.installed

$(LINT_STAMP): requirements-lint.txt
	test -x $(LINT_VENV)/bin/python || $(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install -q -r requirements-lint.txt
	touch $(LINT_STAMP)

lint: $(LINT_STAMP)
	$(LINT_VENV)/bin/mypy

clean:
	rm -rf out build dist .pytest_cache
