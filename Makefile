# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
SECRET  := instance/secret_key
DEV_ENV := PRYSTAN_SECRET_KEY="$$(cat $(SECRET))"

.PHONY: install translations run test test-postgres lint system-deps test-tools messages clean

install: $(VENV)/.installed translations

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

translations: $(VENV)/.installed
	$(VENV)/bin/pybabel -q compile -d app/translations

$(SECRET):
	mkdir -p instance
	umask 077 && python3 -c 'import secrets; print(secrets.token_hex(32))' > $@

run: install $(SECRET)
	$(DEV_ENV) $(FLASK) db upgrade
	$(DEV_ENV) $(FLASK) demo
	@echo "  Serving on http://127.0.0.1:5000 (Ctrl+C to stop)"
	$(DEV_ENV) $(VENV)/bin/gunicorn --config gunicorn.conf.py wsgi:app

system-deps:
	bash .ci/system-deps

# axe-core for the accessibility tests (from the npm registry, pinned in package-lock.json).
test-tools: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $@

test: install system-deps test-tools lint
	$(PY) -m pytest

# The code's own checks: ruff's lint rules and its formatting (pyproject.toml [tool.ruff]). `ruff format .` fixes the latter.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The same suite against the PostgreSQL server on this machine, but for the heavy tests that do not depend on the
# database (browser walks, the HTML checker, file bombs: marked "once"), which `make test` has run.
test-postgres: install system-deps test-tools
	PRYSTAN_TEST_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test $(PY) -m pytest -m "not once"

# Extract strings and update the catalogs after changing user-facing text.
messages: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output .
	$(VENV)/bin/pybabel update -i app/translations/messages.pot -d app/translations --ignore-obsolete --no-fuzzy-matching --width 100

clean:
	rm -rf $(VENV) build .pytest_cache
