# citytwin — the two commands a newcomer needs: `make run` and `make test`.
# Everything is installed by these targets: a .venv with the project, and (via `citytwin db up`)
# PostgreSQL + PostGIS from apt and the project's own cluster in .citytwin/.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CT     := $(VENV)/bin/citytwin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test setup db lint bench clean

run: db
	$(CT) sample load
	$(CT) serve

test: db
	$(PY) -m pytest $(PYTEST_ARGS)

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

db: setup
	$(CT) db up
	$(CT) db migrate

lint: setup
	$(VENV)/bin/ruff check .

bench: db
	$(PY) bench/registry.py

clean:
	-$(CT) db down
	rm -rf $(VENV) .citytwin
