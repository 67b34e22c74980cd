# citytwin — the two commands a newcomer needs: `make run` and `make test`.
# Everything is installed by these targets: a .venv with the project, and (via `citytwin db up`)
# PostgreSQL + PostGIS from apt and the project's own cluster in .citytwin/.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
CT     := $(VENV)/bin/citytwin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test setup db tools lint bench clean

run: db
	$(CT) sample load
	$(CT) serve

test: db tools
	$(PY) -m pytest $(PYTEST_ARGS)

# GDAL's command-line tools: the tests drive the API with ogrinfo / ogr2ogr as QGIS would.
tools:
	@command -v ogrinfo >/dev/null || { \
	  [ "$$(id -u)" = 0 ] || { echo "install gdal-bin (apt-get install gdal-bin)"; exit 1; }; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends gdal-bin >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends gdal-bin >/dev/null; }; }

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
