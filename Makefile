# Two commands do everything on a fresh machine: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := run

PORT ?= 5000
PUBLIC_URL ?= http://127.0.0.1:$(PORT)
MAIL_PORT ?= 1025
INSTANCE_PATH ?= $(CURDIR)/instance
MAIL_CATCHER_DIR ?= $(INSTANCE_PATH)/maildir
export PORT PUBLIC_URL MAIL_PORT INSTANCE_PATH MAIL_CATCHER_DIR

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
# Three pytest processes (pytest-xdist): most tests wait on servers and sockets, so three share two cores well.
PYTEST_WORKERS ?= 3
PYTEST_ARGS ?=

.PHONY: run test deps system-deps assets widget translations migrate seed lint extract-messages clean

run: export INSTALL_CHECK_ALLOW_PRIVATE = 1  # the demo site is on 127.0.0.1
run: deps assets migrate seed  ## set up what is missing, then start every process of the service
	@echo "CallBack is starting on $(PUBLIC_URL) (Ctrl+C stops all processes)"
	$(BIN)/honcho start -f Procfile

test: deps assets  ## the whole test suite: the widget's pure modules in node, then pytest
	node --test assets/widget/test/
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

deps: system-deps $(VENV)/.installed node_modules/.installed

system-deps:
	@if [ "$$(id -u)" = 0 ]; then bash scripts/install-system-deps; \
	else bash scripts/install-system-deps || echo "make: continuing without the packages above"; fi

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

assets: deps translations widget  ## LESS through Flask-Assets (node's lessc), and the widget
	$(FLASK) assets build

widget: node_modules/.installed  ## the visitor's widget: assets/widget/*.js bundled into app/static/widget.js
	node_modules/.bin/esbuild assets/widget/index.js --bundle --minify --format=iife --target=es2020 \
		--legal-comments=none --log-level=warning --outfile=app/static/widget.js

translations: $(VENV)/.installed
	$(BIN)/pybabel compile --use-fuzzy -d app/translations --statistics 2>&1 | tail -n 1

extract-messages: $(VENV)/.installed  ## after adding interface strings: refresh the catalogues
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ -o app/translations/messages.pot \
		--no-location --sort-output --project=CallBack app admin dialer/providers
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching

migrate: deps
	mkdir -p $(INSTANCE_PATH)
	$(FLASK) db upgrade

seed: migrate
	$(FLASK) demo seed

lint: deps
	$(BIN)/ruff check app admin dialer tests migrations

clean:
	rm -rf $(VENV) node_modules app/static/gen app/static/.webassets-manifest app/static/widget.js
