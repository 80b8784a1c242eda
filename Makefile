# ProcessBench — the two commands a new machine needs:
#   make demo   install everything, create the SQLite demo database, serve http://127.0.0.1:5000/
#   make test   install everything (Chromium for the browser tests too) and run the full test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HTMX   := static/vendor/htmx.min.js
AXE    := static/vendor/axe.min.js
MO     := workbench/translations/zh_Hans_CN/LC_MESSAGES/messages.mo

.PHONY: demo test install browser translations extract bench bench-scale bench-http bench-create clean

demo: install
	$(BIN)/workbench demo

test: install browser
	$(BIN)/python -m pytest -q -n auto --dist loadfile

install: $(VENV)/.installed $(HTMX) $(AXE) $(MO)

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# htmx comes from the npm registry (pinned in package.json / package-lock.json); never committed.
$(HTMX): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js $(HTMX)

# axe-core (accessibility checks in the browser tests), from npm like htmx; never committed, never served to users.
$(AXE): $(HTMX)
	mkdir -p static/vendor
	cp node_modules/axe-core/axe.min.js $(AXE)

$(MO): workbench/translations/zh_Hans_CN/LC_MESSAGES/messages.po $(VENV)/.installed
	$(BIN)/pybabel compile -d workbench/translations

translations: $(MO)

# Debian packages the tests use: Chromium (Playwright drives it), CJK fonts (screenshots and exports
# show Chinese) and a PostgreSQL server (the suite runs core flows on a throw-away cluster too).
browser:
	@if [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk postgresql libcairo2 >/dev/null; \
	fi

# Developers: refresh the message catalogue after changing UI strings.
extract: $(VENV)/.installed
	$(BIN)/pybabel extract -F babel.cfg -k _l -o workbench/translations/messages.pot .
	$(BIN)/pybabel update -i workbench/translations/messages.pot -d workbench/translations

bench: install
	$(BIN)/python bench/run.py

# scale mode (issue #11): an organization of N records in DATABASE_URL (default: a temporary SQLite file)
N ?= 100000
bench-scale: install
	$(BIN)/python bench/run.py --records $(N)

# throughput under gunicorn (4 workers) against hello-world, and record creation against its floor (issue #11);
# DATABASE_URL chooses the database (default: temporary SQLite); bench/pg.py runs either on a throw-away PostgreSQL
bench-http: install
	$(BIN)/python bench/run.py --http

bench-create: install
	$(BIN)/python bench/run.py --create

clean:
	rm -rf $(VENV) node_modules static/vendor instance
