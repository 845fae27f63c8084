"""Fixtures: a real database (SQLite file, or PostgreSQL with PRYSTAN_TEST_DATABASE_URL), app, client, runner."""

import functools
import os
import re
import shutil

import pytest
from hypothesis import HealthCheck, settings

from app import create_app
from app.extensions import db
from app.models import Submission
from app.security import derive_key
from app.submissions import create as service

TEST_DATABASE_URL = os.environ.get("PRYSTAN_TEST_DATABASE_URL")
SECRET = "test-secret-key-that-is-long-enough-0123456789"

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


def database_url(tmp_path) -> str:
    return TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"


# Each test's work folder is in RAM, as in production, and its own (a leftover cannot leak into another test).
RAM_ROOT = f"/dev/shm/prystan-tests-{os.getpid()}"


@pytest.fixture(scope="session", autouse=True)
def ram_root():
    os.makedirs(RAM_ROOT, mode=0o700, exist_ok=True)
    yield RAM_ROOT
    shutil.rmtree(RAM_ROOT, ignore_errors=True)


def ram_folder(tmp_path) -> str:
    return os.path.join(RAM_ROOT, tmp_path.name)


def work_leftovers(app) -> list[str]:
    """What is left in the work folder (the sandbox's lock files aside, where they live there): nothing, once a
    request has ended."""
    return sorted(set(os.listdir(app.config["UPLOAD_WORKDIR"])) - {".slots"})


def make_app(tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url(tmp_path),
        "STORAGE_URL": str(tmp_path / "uploads"),
        "UPLOAD_WORKDIR": ram_folder(tmp_path),
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
    }
    config.update(overrides)
    return create_app(config)


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


def receipt_key(app) -> bytes:
    return derive_key(app.config["SECRET_KEY"], "receipt")


def make_submission(app, kind="information", **overrides):
    """Store a submission the way the form does; return (id, receipt code)."""
    fields = {"telegram": "anna_k1", "body": "Some text about a case."}
    if kind == "ad":
        fields |= {"title": "An ad", "category": "housing", "city": "Vilnius", "show_contact": True}
    if kind == "contact":
        fields |= {"purpose": "legal"}
    status = overrides.pop("status", "pending")
    other = {k: overrides.pop(k) for k in list(overrides) if k in ("reject_reason", "reject_note")}
    fields |= overrides
    with app.app_context():
        code = service.create(kind, fields, locale="en", receipt_key=receipt_key(app))
        submission = db.session.scalars(db.select(Submission).order_by(Submission.id.desc())).first()
        submission.status = status
        for name, value in other.items():
            setattr(submission, name, value)
        db.session.commit()
        return submission.id, code


RECEIPT_RE = re.compile(r'id="receipt-code">(\d{4} \d{4} \d{4} \d{4})<')


def receipt_from(html: str) -> str | None:
    match = RECEIPT_RE.search(html)
    return match.group(1) if match else None


def errors_in(html: str) -> list[str]:
    return re.findall(r'<p class="error" id="[^"]+">([^<]*)</p>', html)


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(model))


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


PASSWORD = "correct horse battery"


@functools.cache
def password_hash(password: str) -> str:
    """Argon2 is slow on purpose; hash each test password once per run."""
    from app.passwords import hash_password

    return hash_password(password)


def make_user(app, username="olga", role="moderator", password=PASSWORD, **fields):
    from app.models import User

    with app.app_context():
        user = User(username=username, role=role, password_hash=password_hash(password), **fields)
        db.session.add(user)
        db.session.commit()
        return user.id


def login(client, username="olga", password=PASSWORD, otp=""):
    return client.post("/auth/login", data={"username": username, "password": password, "otp": otp})


def sign_in(client, app, user_id, password=PASSWORD):
    """Sign a staff member in through the sign-in form, as a person would (for tests about something else)."""
    import pyotp

    from app.models import User

    with app.app_context():
        user = db.session.get(User, user_id)
        username, secret = user.username, user.totp_secret
    otp = pyotp.TOTP(secret).now() if secret else ""
    response = client.post("/auth/login", data={"username": username, "password": password, "otp": otp})
    assert response.status_code == 303, f"could not sign {username} in: {response.status_code}"


@pytest.fixture
def moderator(app, client):
    """A signed-in moderator's client."""
    make_user(app, "olga", "moderator")
    assert login(client).status_code == 303
    return client


HX = {"HX-Request": "true"}


def hx(target=None):
    return HX | ({"HX-Target": target} if target else {})


def public_id(app, row_id, model=None) -> str:
    """What readers see of a submission (or, with model=Attachment, of an image) instead of its row id; for a row
    that does not exist, a well-formed public id that names nothing."""
    from app.models import PUBLIC_ID_LENGTH

    model = model or Submission
    with app.app_context():
        row = db.session.get(model, row_id)
        return row.public_id if row else "z" * PUBLIC_ID_LENGTH
