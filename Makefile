# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed
NODE_STAMP = node_modules/.installed
# The Chinese font case dossiers embed (webui.staff.dossier; WHISTLE_PDF_FONT names another): Debian's package.
CJK_FONT = /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
HOST   ?= 127.0.0.1
PORT   ?= 5000
export WHISTLE_MODE ?= demo

.PHONY: install run test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Browser assets from npm, pinned by package-lock.json: bpmn-js for the case diagrams, and the designers' modeler
# (bpmn-js, its properties panel, the Camunda moddle) and the dashboards' charts (Apache ECharts) bundled by esbuild
# into webui/static/build/. Neither
# node_modules nor the bundle is ever committed; the bundle is rebuilt after `npm ci` and when its sources change.
MODELER_BUNDLE = webui/static/build/modeler.js
MODELER_SOURCES = $(wildcard webui/assets/modeler/*) $(wildcard webui/assets/dashboard/*)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

$(MODELER_BUNDLE): $(NODE_STAMP) $(MODELER_SOURCES)
	npm run build
	touch $(MODELER_BUNDLE)

install: $(STAMP) $(NODE_STAMP) $(MODELER_BUNDLE) $(CJK_FONT)

$(CJK_FONT):
	@command -v apt-get >/dev/null || { echo "install a CJK TrueType font and set WHISTLE_PDF_FONT"; exit 1; }
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y --no-install-recommends fonts-wqy-microhei \
	  || { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends fonts-wqy-microhei; }

run: install
	$(BIN)/whistle migrate
	$(BIN)/whistle deploy processes/
	$(BIN)/whistle user import processes/demo-accounts.json
	$(BIN)/whistle serve --host $(HOST) --port $(PORT)

test: install
	WHISTLE_MODE=test $(BIN)/pytest -q

# Checked habits (issue 13): ruff (ruff.toml), mypy (mypy.ini), the import layers (.importlinter).
.PHONY: lint
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: install
	$(BIN)/python bench/engine_step.py

clean:
	rm -rf $(VENV) var *.egg-info webui/static/build
