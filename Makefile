# Two commands set everything up on a fresh machine: `make run` and `make test`.
VENV    := .venv
PY      := $(VENV)/bin/python
FLASK   := $(VENV)/bin/flask --app wsgi
SECRET  := instance/secret_key
DEV_ENV := PRYSTAN_SECRET_KEY="$$(cat $(SECRET))"

.PHONY: install translations run test test-postgres lint system-deps test-tools messages lock audit clean

install: $(VENV)/.installed translations

# Every Python package, direct and transitive, comes from the lock with its hashes (requirements-test.txt: the site's
# lock, requirements.txt, plus the test extras); then the project itself, which an editable install cannot hash-check.
$(VENV)/.installed: requirements-test.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-test.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

# Refresh the locks from pyproject.toml (newest releases its ranges allow), then review the diff and run make test.
LOCK := $(VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock:
	$(VENV)/bin/pip install --quiet pip-tools
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK) --upgrade -o requirements.txt pyproject.toml
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK) --upgrade --extra test -o requirements-test.txt pyproject.toml

# Known vulnerabilities in the locked packages (asks the registry: not part of CI).
audit:
	$(VENV)/bin/pip install --quiet pip-audit
	$(VENV)/bin/pip-audit --require-hashes --disable-pip -r requirements.txt
	$(VENV)/bin/pip-audit --require-hashes --disable-pip -r requirements-test.txt

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
# Then the types: mypy (pyproject.toml [tool.mypy]) may find no error that mypy-baseline.txt does not list, and the
# list only shrinks (tests/mypy_baseline.py; about 10 s the first time, under a second with its cache).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) tests/mypy_baseline.py

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
