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

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*; touch $@

db: setup
	$(CT) db up
	$(CT) db migrate

# Tools the tests drive as users would: GDAL's ogrinfo / ogr2ogr (the path QGIS takes) and
# Debian's Chromium (the map and the inspector's page, through Playwright).
TOOLS := ogrinfo:gdal-bin chromium:chromium
tools:
	@missing=""; for t in $(TOOLS); do command -v $${t%%:*} >/dev/null || missing="$$missing $${t#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  [ "$$(id -u)" = 0 ] || { echo "please install:$$missing"; exit 1; }; \
	  echo "installing$$missing ..."; export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q --no-install-recommends $$missing >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $$missing >/dev/null; }; \
	fi

lint: setup
	$(VENV)/bin/ruff check .

bench: db
	$(PY) bench/registry.py

clean:
	-$(CT) db down
	rm -rf $(VENV) .citytwin
