"""Admins manage staff accounts and read the audit log."""

import pyotp
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event, User
from app.submissions import decisions as service
from tests.helpers import PASSWORD, approve, login, make_submission, make_user, sign_in


@pytest.fixture
def admin(app, client):
    sign_in(client, app, make_user(app, "boss", "admin"))
    return client


def account(app, username):
    with app.app_context():
        return db.session.scalar(select(User).where(User.username == username))


def test_admin_creates_an_account_that_can_sign_in(app, admin):
    response = admin.post(
        "/admin/users", data={"username": "new.mod", "role": "moderator", "password": "a first password"}
    )
    assert response.status_code == 303
    assert "Account new.mod created." in admin.get("/admin/users").get_data(as_text=True)
    assert login(app.test_client(), "new.mod", "a first password").status_code == 303
    with app.app_context():
        event = db.session.scalars(select(Event).where(Event.action == "user_created")).one()
        assert "moderator" in event.detail and "a first password" not in event.detail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"username": "x", "role": "moderator", "password": "a first password"}, "3 to 64 Latin letters"),
        ({"username": "boss", "role": "moderator", "password": "a first password"}, "This username is taken."),
        ({"username": "anna", "role": "moderator", "password": "short"}, "at least 12"),
    ],
)
def test_bad_new_account_is_explained(app, admin, data, message):
    response = admin.post("/admin/users", data=data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)


def test_disabling_ends_the_accounts_sessions_at_once(app, admin):
    user_id = make_user(app, "olga")
    olga = app.test_client()
    login(olga)
    assert olga.get("/moderation").status_code == 200
    admin.post(f"/admin/users/{user_id}/active")
    assert olga.get("/moderation").status_code == 302
    assert login(app.test_client()).status_code == 422
    admin.post(f"/admin/users/{user_id}/active")
    assert login(app.test_client()).status_code == 303


def test_changing_the_role_changes_what_the_account_may_do(app, admin):
    user_id = make_user(app, "olga", "moderator")
    olga = app.test_client()
    sign_in(olga, app, user_id)
    admin.post(f"/admin/users/{user_id}/role", data={"role": "editor"})
    assert account(app, "olga").role == "editor"
    sign_in(olga, app, user_id)
    assert olga.get("/moderation").status_code == 403


def test_totp_can_be_required_and_reset(app, admin):
    secret = pyotp.random_base32()
    user_id = make_user(app, "olga", totp_secret=secret)
    admin.post(f"/admin/users/{user_id}/totp-required")
    admin.post(f"/admin/users/{user_id}/totp-reset")
    olga = account(app, "olga")
    assert olga.totp_required and olga.totp_secret is None
    client = app.test_client()
    assert login(client).status_code == 303  # no code needed now, but...
    assert client.get("/moderation").headers["Location"] == "/auth/totp"  # ...enrolment first


def test_admins_cannot_lock_themselves_out(app, admin):
    me = account(app, "boss")
    admin.post(f"/admin/users/{me.id}/active")
    assert account(app, "boss").active
    assert "You cannot change your own account here." in admin.get("/admin/users").get_data(as_text=True)


def test_audit_log_lists_and_filters_events(app, admin):
    moderator_id = make_user(app, "olga")
    first, _ = make_submission(app)
    second, _ = make_submission(app)
    with app.app_context():
        olga = db.session.get(User, moderator_id)
        approve(first, 1, olga)
        service.reject(second, 1, olga, "spam")
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert page.count("<tr><td>") == 5  # the admin's own sign-in, two items sent, one approved, one rejected
    assert "olga" in page and "rejected it" in page and "the sender" in page
    only_rejections = admin.get("/admin/audit?action=rejected").get_data(as_text=True)
    assert only_rejections.count("<tr><td>") == 1 and "spam" in only_rejections
    by_item = admin.get(f"/admin/audit?submission={first}").get_data(as_text=True)
    assert by_item.count("<tr><td>") == 2
    by_actor = admin.get("/admin/audit?actor=olga").get_data(as_text=True)
    assert by_actor.count("<tr><td>") == 2
    assert admin.get("/admin/audit?submission=abc&since=nonsense").status_code == 200


def test_audit_log_never_holds_handles_texts_or_passwords(app, admin):
    make_submission(app, telegram="secret_handle", body="secret body words")
    admin.post("/admin/users", data={"username": "anna", "role": "editor", "password": PASSWORD})
    with app.app_context():
        stored = " ".join(f"{e.action} {e.detail}" for e in db.session.scalars(select(Event)))
    for secret in ("secret_handle", "secret body words", PASSWORD):
        assert secret not in stored


def test_an_admin_ends_one_accounts_sessions_now(app, client):
    from app.models import Event
    from tests.helpers import make_user, sign_in

    admin_id = make_user(app, "boss", "admin")
    olga_id = make_user(app, "olga", "moderator")
    sign_in(client, app, admin_id)
    phone = app.test_client()  # olga's phone, about to be seized
    sign_in(phone, app, olga_id)
    assert phone.get("/moderation").status_code == 200
    page = client.get("/admin/users").get_data(as_text=True)
    assert f'action="/admin/users/{olga_id}/end-sessions"' in page and 'action="/admin/users/end-sessions"' in page
    assert client.post(f"/admin/users/{olga_id}/end-sessions").status_code == 303
    assert phone.get("/moderation").status_code == 302  # signed out: sent to the sign-in page
    assert client.get("/admin/users").status_code == 200  # the admin's own session goes on
    with app.app_context():
        event = db.session.scalars(db.select(Event).where(Event.action == "sessions_ended")).one()
        assert (event.actor_id, event.detail) == (admin_id, f"user {olga_id}")
    again = app.test_client()
    sign_in(again, app, olga_id)  # she can sign in again: nothing else changed
    assert again.get("/moderation").status_code == 200


def test_an_admin_ends_every_staff_session_after_confirming(app, client):
    from tests.helpers import errors_in, make_user, sign_in

    admin_id = make_user(app, "boss", "admin")
    sign_in(client, app, admin_id)
    others = []
    for name in ("olga", "ivan"):
        other = app.test_client()
        sign_in(other, app, make_user(app, name, "moderator"))
        others.append(other)
    refused = client.post("/admin/users/end-sessions", data={})
    assert refused.status_code == 422
    assert errors_in(refused.get_data(as_text=True)) == ["Tick the box to end every session."]
    assert all(o.get("/moderation").status_code == 200 for o in others)
    done = client.post("/admin/users/end-sessions", data={"confirm": "y"})
    assert done.status_code == 303 and done.headers["Location"].startswith("/auth/login")
    assert [o.get("/moderation").status_code for o in others] == [302, 302]
    assert client.get("/admin/users").status_code == 302  # the admin's too


def test_flask_users_end_sessions_by_name_or_all(app, runner):
    from tests.helpers import make_user, sign_in

    olga, ivan = app.test_client(), app.test_client()
    sign_in(olga, app, make_user(app, "olga"))
    sign_in(ivan, app, make_user(app, "ivan"))
    result = runner.invoke(args=["users", "end-sessions", "olga"])
    assert result.exit_code == 0 and "Ended the sessions of 'olga'." in result.output
    assert (olga.get("/moderation").status_code, ivan.get("/moderation").status_code) == (302, 200)
    result = runner.invoke(args=["users", "end-sessions", "--all"])
    assert result.exit_code == 0 and "all 2 staff accounts" in result.output
    assert ivan.get("/moderation").status_code == 302
    assert runner.invoke(args=["users", "end-sessions"]).exit_code != 0  # one name, or --all
