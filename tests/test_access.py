"""Every staff URL, walked from the URL map, against anonymous visitors and each role."""

import pytest

from tests.helpers import HX, make_app, make_submission, make_user, sign_in
from tests.routes import url_of

STAFF_PREFIXES = {
    "/moderation": "moderate",
    "/admin/articles": "write",
    "/admin": "administer",
    "/auth/password": None,
    "/auth/totp": None,
    "/auth/logout": None,
}
# Under a prefix, but for fewer roles: deleting an item at once is an admin's decision.
NARROWER = {"/moderation/1/delete": "administer"}
ROLES_ALLOWED = {
    "moderate": {"moderator", "admin"},
    "write": {"editor", "admin"},
    "administer": {"admin"},
    None: {"moderator", "editor", "admin"},
}


def staff_routes():
    app = make_app_for_listing()
    found = []
    for rule in app.url_map.iter_rules():
        permission = next((p for prefix, p in STAFF_PREFIXES.items() if rule.rule.startswith(prefix)), "public")
        if permission == "public":
            continue
        url = url_of(rule)
        permission = NARROWER.get(url, permission)
        for method in sorted(rule.methods & {"GET", "POST"}):
            found.append(pytest.param(method, url, permission, id=f"{method} {url}"))
    return found


def make_app_for_listing():
    import tempfile
    from pathlib import Path

    return make_app(Path(tempfile.mkdtemp()))


ROUTES = staff_routes()


def test_the_walk_finds_the_staff_pages():
    urls = {p.values[1] for p in ROUTES}
    assert {"/moderation", "/moderation/1", "/moderation/1/approve", "/admin/users", "/admin/audit"} <= urls
    assert len(ROUTES) >= 15


@pytest.mark.parametrize(("method", "url", "permission"), ROUTES)
def test_anonymous_visitors_are_sent_to_sign_in(client, method, url, permission):
    response = client.open(url, method=method)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/login")
    htmx_response = client.open(url, method=method, headers=HX)
    assert htmx_response.headers["HX-Redirect"].startswith("/auth/login")


@pytest.mark.parametrize("role", ["moderator", "editor", "admin"])
@pytest.mark.parametrize(("method", "url", "permission"), ROUTES)
def test_each_role_gets_only_what_it_may(app, client, role, method, url, permission):
    make_submission(app)
    make_user(app, "first", "admin")  # user 1, the target of /admin/users/1/...
    sign_in(client, app, make_user(app, "someone", role))
    response = client.open(url, method=method, data={"version": 1})
    if role in ROLES_ALLOWED[permission]:
        assert response.status_code not in (401, 403), response.status_code
        assert response.status_code < 500
    else:
        assert response.status_code == 403


def test_signed_in_staff_posts_without_csrf_token_are_refused(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    from app.extensions import db

    with app.app_context():
        db.create_all()
    make_user(app, "boss", "admin")
    make_submission(app)
    client = app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    signed_in = client.post(
        "/auth/login", data={"username": "boss", "password": "correct horse battery", "csrf_token": token}
    )
    assert signed_in.status_code == 303
    posts = [p.values[1] for p in ROUTES if p.values[0] == "POST"]
    for url in posts:
        assert client.post(url, data={"version": 1}).status_code == 400, url
    with app.app_context():
        from app.models import Submission

        assert db.session.get(Submission, 1).status == "pending"
        db.session.remove()  # end the read transaction: PostgreSQL would make drop_all wait for it
        db.drop_all()
        db.engine.dispose()
