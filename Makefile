# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both create or refresh the local .venv (Python 3.11, the only Python bpy 5.0.1 supports).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: venv demo test bench sheets clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest

bench: $(STAMP)
	$(PY) scripts/benchmark.py

sheets: $(STAMP)
	$(PY) scripts/contact_sheets.py

clean:
	rm -rf out build dist .pytest_cache
