"""The security baseline of DESIGN.md: headers, CSP, caching, cookies, CSRF, secrets, limits, logs."""

import logging
import re

import pytest

from app import create_app
from app.models import Submission
from tests.helpers import SECRET, count, database_url, make_app
from tests.routes import url_of

PUBLIC_PAGES = [
    "/",
    "/submit/information",
    "/submit/contact",
    "/submit/ad",
    "/status",
    "/help/telegram",
    "/safety",
    "/auth/login",
    "/auth/key",
    "/ads",
    "/articles",
]
FEEDS = ["/ads/feed.atom", "/articles/feed.atom", "/pow/challenge", "/favicon.ico"]  # not HTML pages
STAFF_PAGES = [
    "/moderation",
    "/moderation/counts",
    "/moderation/new",
    "/admin/users",
    "/admin/audit",
    "/admin/articles",
    "/admin/articles/new",
    "/auth/password",
    "/auth/totp",
    "/auth/keys",
]
NO_STORE_PAGES = ["/submit/information", "/submit/contact", "/submit/ad", "/status", "/auth/login"]


def get_routes(app):
    """Every GET route without arguments, and every POST route, from the URL map."""
    gets, posts = [], []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        if "GET" in rule.methods and not rule.arguments:
            gets.append(rule.rule)
        if "POST" in rule.methods:
            posts.append(url_of(rule))
    return gets, posts


def test_the_page_list_covers_every_route(app):
    gets, _ = get_routes(app)
    listed = PUBLIC_PAGES + FEEDS + STAFF_PAGES
    assert set(gets) == set(listed), set(gets) ^ set(listed)


# Links a person may follow off the site (nothing is loaded from there): Quick exit and "Write on Telegram".
OUTSIDE_LINKS = ("https://t.me/", "https://www.google.com/search?q=weather")


@pytest.mark.parametrize("url", PUBLIC_PAGES + STAFF_PAGES + FEEDS + ["/no-such-page"])
def test_security_headers_on_every_page(client, url):
    response = client.get(url)
    assert response.status_code in (200, 301, 302, 303, 404)  # staff pages (and a key step) send visitors to sign in
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Frame-Options"] == "DENY"
    if url in FEEDS:
        return
    html = response.get_data(as_text=True)
    assert "<style" not in html and " style=" not in html and "<script>" not in html
    # Everything the page loads or posts to stays on this site; links stay too, but for the two above.
    for attribute, target in re.findall(r'(src|href|action)="([^"]*)"', html):
        if attribute == "href" and target.startswith(OUTSIDE_LINKS):
            continue
        assert target.startswith(("/", "#")) and not target.startswith("//"), target


@pytest.mark.parametrize("url", NO_STORE_PAGES)
def test_forms_and_status_are_not_stored_by_caches(client, url):
    assert client.get(url).headers["Cache-Control"] == "no-store"


def test_receipt_page_is_not_stored_by_caches(client):
    response = client.post("/submit/information", data={"telegram": "anna_k", "body": "text"})
    assert response.headers["Cache-Control"] == "no-store"


def test_htmx_is_served_from_our_own_static_folder_with_a_safe_config(client):
    html = client.get("/").get_data(as_text=True)
    # (the address carries the file's fingerprint: app/assets.py)
    assert re.search(r'<script src="/static/js/htmx\.min\.js\?v=[0-9a-f]{12}" defer></script>', html)
    for setting in (
        '"includeIndicatorStyles": false',
        '"allowEval": false',
        '"selfRequestsOnly": true',
        '"historyCacheSize": 0',
        '"allowScriptTags": false',
    ):
        assert setting in html
    assert "hx-headers" not in html  # readers' pages send nothing through htmx: no token, no session
    assert client.get("/static/js/htmx.min.js").status_code == 200


def test_staff_pages_give_htmx_the_csrf_token(app, client):
    from tests.helpers import make_user, sign_in

    sign_in(client, app, make_user(app, "mira", "moderator"))
    assert 'hx-headers=\'{"X-CSRFToken": ' in client.get("/moderation").get_data(as_text=True)


def test_session_cookie_is_secure_httponly_and_samesite(tmp_path):
    from tests.helpers import make_app

    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)  # as in production: the form's token lives in the session
    response = app.test_client().get("/submit/information")
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_secret_key_is_required_outside_development_and_tests(tmp_path, monkeypatch):
    monkeypatch.delenv("PRYSTAN_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="PRYSTAN_SECRET_KEY"):
        create_app({"DATABASE_URL": database_url(tmp_path)})
    with pytest.raises(RuntimeError, match="at least 32"):
        create_app({"DATABASE_URL": database_url(tmp_path), "SECRET_KEY": "short"})
    assert create_app({"DATABASE_URL": database_url(tmp_path), "SECRET_KEY": SECRET}).config["SECRET_KEY"] == SECRET


def test_secret_key_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PRYSTAN_SECRET_KEY", "1234567890" * 4)  # all digits: parsed as JSON, kept as text
    monkeypatch.setenv("PRYSTAN_DATABASE_URL", database_url(tmp_path))
    app = create_app()
    assert app.config["SECRET_KEY"] == "1234567890" * 4
    assert app.config["SQLALCHEMY_DATABASE_URI"] == database_url(tmp_path)


@pytest.fixture
def csrf_client(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    from app.extensions import db

    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app, app.test_client()
    with app.app_context():
        db.drop_all()
        db.engine.dispose()


def test_every_post_without_a_csrf_token_is_refused(csrf_client):
    app, client = csrf_client
    _, posts = get_routes(app)
    assert len(posts) >= 7
    for url in posts:
        response = client.post(url, data={"telegram": "anna_k", "body": "x", "code": "1" * 16, "confirm": "y"})
        assert response.status_code == 400, url
    assert count(app, Submission) == 0


def test_csrf_failure_re_renders_the_form_with_what_was_typed(csrf_client):
    app, client = csrf_client
    typed = {
        "telegram": "@anna_k",
        "title": "My title",
        "body": "A long text I do not want to lose.",
        "category": "goods",
        "city": "Gdańsk",
        "csrf_token": "stale",
    }
    response = client.post("/submit/ad", data=typed)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "Nothing you typed is lost" in html
    for value in ("@anna_k", "My title", "A long text I do not want to lose.", "Gdańsk"):
        assert value in html
    assert '<option selected value="goods">' in html
    assert count(app, Submission) == 0


def test_csrf_token_from_the_page_lets_the_form_through(csrf_client):
    app, client = csrf_client
    html = client.get("/submit/information").get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post("/submit/information", data={"telegram": "anna_k", "body": "x", "csrf_token": token})
    assert response.status_code == 200
    assert count(app, Submission) == 1


def test_htmx_header_token_is_accepted(csrf_client):
    _app, client = csrf_client
    html = client.get("/submit/information").get_data(as_text=True)  # a page whose form starts a session
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    response = client.post(
        "/submit/information", data={"telegram": "anna_k", "body": "x"}, headers={"X-CSRFToken": token}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "2 per minute", "POW_ENABLED": False}]
)
def test_submissions_are_rate_limited_and_the_text_is_kept(app, client):
    data = {"telegram": "anna_k", "body": "Please keep this text."}
    for n in range(2):
        assert client.post("/submit/information", data=data | {"body": f"Text {n}"}).status_code == 200
    limited = client.post("/submit/information", data=data)
    assert limited.status_code == 429
    assert "Please keep this text." in limited.get_data(as_text=True)
    assert count(app, Submission) == 2


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "1 per minute"}])
def test_rate_limit_storage_holds_a_keyed_hash_not_the_address(app):
    client = app.test_client()
    client.post(
        "/submit/information", data={"telegram": "anna_k", "body": "x"}, environ_base={"REMOTE_ADDR": "203.0.113.77"}
    )
    from app.extensions import limiter

    keys = " ".join(map(str, limiter.storage.storage.keys()))
    assert keys, "the limiter stored nothing"
    assert "203.0.113.77" not in keys


def test_no_address_or_handle_reaches_the_logs(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    env = {"REMOTE_ADDR": "198.51.100.23", "HTTP_USER_AGENT": "SecretAgent/1.0"}
    client.post(
        "/submit/ad",
        data={"telegram": "secret_handle_x", "title": "t", "category": "goods", "body": "secret body text"},
        environ_base=env,
    )
    client.post("/submit/ad", data={"telegram": "secret_handle_y"}, environ_base=env)
    client.get("/no-such-page", environ_base=env)
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for secret in ("198.51.100.23", "SecretAgent", "secret_handle", "secret body text"):
        assert secret not in logged


def test_development_server_log_hides_the_address():
    from app.security import HideAddress

    # As werkzeug.serving.WSGIRequestHandler.log builds it: the address is already in the message.
    message = "192.0.2.5 - - [24/Nov/2026 21:12:49] %s %s %s\n"
    record = logging.LogRecord("werkzeug", logging.INFO, "", 0, message, ('"GET / HTTP/1.1"', "200", "-"), None)
    HideAddress().filter(record)
    assert "192.0.2.5" not in record.getMessage()
    assert '"GET / HTTP/1.1" 200' in record.getMessage()


def every_route(app):
    """Every route of the URL map with its arguments filled in, with each of its methods."""
    for rule in app.url_map.iter_rules():
        url = url_of(rule)
        for method in sorted(rule.methods & {"GET", "POST"}):
            yield method, url


@pytest.mark.parametrize("role", [None, "admin"])
def test_security_headers_on_every_route_of_the_url_map(app, client, role):
    from tests.helpers import make_user, sign_in

    if role:
        sign_in(client, app, make_user(app, "boss", role))
    routes = list(every_route(app))
    assert len(routes) >= 55
    for method, url in routes:
        response = client.open(url, method=method)
        headers = response.headers
        csp = headers.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp or "sandbox" in csp, (method, url)
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, (method, url)
        assert headers["X-Content-Type-Options"] == "nosniff", (method, url)
        assert headers["Referrer-Policy"] == "same-origin", (method, url)
        assert response.status_code < 500, (method, url, response.status_code)
