"""Fixtures: a real database (SQLite file, or PostgreSQL with PRYSTAN_TEST_DATABASE_URL), app, client, runner,
a live server and Chromium. What they build on is in helpers.py."""

import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, settings

from app.extensions import db
from tests.helpers import RAM_ROOT, login, make_app, make_user

settings.register_profile(
    "default", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "ci",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
settings.load_profile("ci" if os.environ.get("CI") else "default")


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashes():
    """Passwords hashed at Argon2id's minimum costs in the suite: every account made and every sign-in would
    otherwise pay 64 MiB and a fifth of a second (tests/test_crypto.py checks the production costs)."""
    from argon2 import PasswordHasher

    from app import passwords

    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    saved = passwords._hasher, passwords._DUMMY
    passwords._hasher, passwords._DUMMY = cheap, cheap.hash("not a real password")
    yield
    passwords._hasher, passwords._DUMMY = saved


@pytest.fixture(scope="session", autouse=True)
def ram_root():
    os.makedirs(RAM_ROOT, mode=0o700, exist_ok=True)
    yield RAM_ROOT
    shutil.rmtree(RAM_ROOT, ignore_errors=True)


@pytest.fixture
def app_config():
    """Override in a test module (or parametrize) to change settings."""
    return {}


@pytest.fixture
def app(tmp_path, app_config):
    app = make_app(tmp_path, **app_config)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(tmp_path):
    """The app served over real HTTP on 127.0.0.1, with CSRF on as in production."""
    from tests.browser import LiveServer

    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.drop_all()
        db.create_all()
    with LiveServer(app) as server:
        server.app = app
        yield server
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    from tests.browser import CHROMIUM, CHROMIUM_ARGS, chromium_available

    if not chromium_available():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/system-deps installs it")
        pytest.skip("Chromium is not installed here (make test installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh browser context that records CSP violations and requests to any other host."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server.url)
    page = context.new_page()
    page.problems = []

    def on_console(message):
        # A form answered with an expected client error (422 field errors, 409 conflict) is not a problem.
        expected = re.search(r"status of (400|409|410|422|429)\b", message.text)
        if message.type == "error" and not expected:
            page.problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on(
        "request",
        lambda r: r.url.startswith(live_server.url) or page.problems.append(f"foreign request: {r.url}"),
    )
    yield page
    context.close()


@pytest.fixture
def moderator(app, client):
    """A signed-in moderator's client."""
    make_user(app, "olga", "moderator")
    assert login(client).status_code == 303
    return client
