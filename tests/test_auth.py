"""Staff sign-in: one message for every failure, TOTP, timeouts, limits, password change, CLI."""

import time

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import Event, User
from app.passwords import verify
from tests.helpers import PASSWORD, login, make_user

GENERIC = "Wrong username, password or code."


def test_sign_in_lands_each_role_where_it_works(app, client):
    make_user(app, "olga", "moderator")
    make_user(app, "ivan", "admin")
    make_user(app, "anna", "editor")
    assert login(client, "olga").headers["Location"] == "/moderation"
    assert login(app.test_client(), "anna").headers["Location"] == "/"
    assert login(app.test_client(), "ivan").headers["Location"] == "/moderation"


def test_sign_in_follows_a_local_next_only(app, client):
    make_user(app)
    response = client.post("/auth/login", data={"username": "olga", "password": PASSWORD, "next": "/admin/audit"})
    assert response.headers["Location"] == "/admin/audit"
    other = app.test_client().post(
        "/auth/login", data={"username": "olga", "password": PASSWORD, "next": "https://evil.example/"}
    )
    assert other.headers["Location"] == "/moderation"


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "disabled", "missing code", "wrong code"])
def test_every_failed_sign_in_gets_the_same_message(app, client, case):
    secret = pyotp.random_base32()
    make_user(app, "olga", active=(case != "disabled"), totp_secret=secret if "code" in case else None)
    username = "nobody" if case == "unknown user" else "olga"
    password = "wrong password!" if case == "wrong password" else PASSWORD
    otp = "000000" if case == "wrong code" else ""
    response = login(client, username, password, otp)
    assert response.status_code == 422
    assert GENERIC in response.get_data(as_text=True)
    assert "Sign out" not in client.get("/").get_data(as_text=True)


def test_required_totp_blocks_staff_pages_until_enrolled(app, client):
    make_user(app, totp_required=True)
    login(client)
    response = client.get("/moderation")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/totp"
    assert "requires two-step sign-in" in client.get("/auth/totp").get_data(as_text=True)


def test_a_new_session_starts_at_sign_in(app, client):
    make_user(app)
    client.get("/submit/information")
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    login(client)
    with client.session_transaction() as session:
        assert "planted" not in session


@pytest.mark.parametrize(("key", "age"), [("seen_at", 31 * 60), ("auth_at", 12 * 3600 + 1)])
def test_idle_and_absolute_timeouts_end_the_session(app, client, key, age):
    make_user(app)
    login(client)
    assert client.get("/moderation").status_code == 200
    with client.session_transaction() as session:
        session[key] = time.time() - age
    response = client.get("/moderation")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    assert "signed out after a period of inactivity" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_activity_keeps_the_session_alive(app, client):
    make_user(app)
    login(client)
    with client.session_transaction() as session:
        session["seen_at"] = time.time() - 29 * 60
    assert client.get("/moderation").status_code == 200
    assert client.get("/moderation").status_code == 200


def test_password_change_ends_other_sessions(app, client):
    make_user(app)
    login(client)
    other = app.test_client()
    login(other)
    bad = client.post(
        "/auth/password", data={"current": "nope", "new": "a brand new password", "confirm": "a brand new password"}
    )
    assert bad.status_code == 422 and "not your current password" in bad.get_data(as_text=True)
    short = client.post("/auth/password", data={"current": PASSWORD, "new": "short", "confirm": "short"})
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    ok = client.post(
        "/auth/password", data={"current": PASSWORD, "new": "a brand new password", "confirm": "a brand new password"}
    )
    assert ok.status_code == 303
    assert client.get("/moderation").status_code == 200  # this session goes on
    assert client.get("/moderation").status_code == 200
    assert other.get("/moderation").status_code == 302  # the other one ended


def attempt(app, address: str, password: str = "wrong password!", username: str = "olga"):
    return app.test_client().post(
        "/auth/login", data={"username": username, "password": password}, environ_base={"REMOTE_ADDR": address}
    )


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "LOGIN_RATELIMIT": "3 per hour"}])
def test_failed_sign_ins_are_limited_per_account_and_address(app, client):
    make_user(app)
    make_user(app, "ivan")
    for _ in range(3):
        assert login(client, password="wrong password!").status_code == 422
    assert login(client).status_code == 429  # this account, from this address
    assert login(client, username="ivan").status_code == 303  # another account from the same address
    assert attempt(app, "192.0.2.9", PASSWORD).status_code == 303  # this account from elsewhere


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_strangers_failing_from_many_addresses_do_not_lock_the_moderator_out(app, client):
    make_user(app)
    assert attempt(app, "203.0.113.5", PASSWORD).status_code == 303  # the moderator's usual connection
    for n in range(10):
        assert attempt(app, f"192.0.2.{n}").status_code in (422, 429)
    assert attempt(app, "203.0.113.5", PASSWORD).status_code == 303


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_guessing_one_account_from_many_addresses_meets_a_growing_delay(app, monkeypatch):
    from app.auth import throttle

    monkeypatch.setattr(throttle, "FIRST", 2)
    make_user(app)
    codes = [attempt(app, f"192.0.2.{n}").status_code for n in range(throttle.FREE)]
    assert codes == [422] * throttle.FREE
    delayed = attempt(app, "198.51.100.1", PASSWORD)  # even the right password, from an address never seen
    assert delayed.status_code == 429
    assert "Too many failed attempts for this account. Wait a moment and try again (2 s)." in delayed.get_data(
        as_text=True
    )
    with time_machine.travel(time.time() + 2.1, tick=False):
        assert attempt(app, "198.51.100.2").status_code == 422  # tried after the delay: counted, and the delay doubles
        again = attempt(app, "198.51.100.3", PASSWORD)
        assert again.status_code == 429 and "try again (4 s)" in again.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "LOGIN_RATELIMIT": "2 per hour"}])
def test_an_ipv6_client_is_one_client_across_its_64(app):
    make_user(app)
    for address in ("2001:db8:1:2::10", "2001:db8:1:2:ffff::1"):
        assert attempt(app, address).status_code == 422
    assert attempt(app, "2001:db8:1:2::99", PASSWORD).status_code == 429  # the same /64
    assert attempt(app, "2001:db8:1:3::10", PASSWORD).status_code == 303  # the next /64 is another client


def test_sign_in_is_an_audit_event(app, client):
    user_id = make_user(app)
    login(client)
    with app.app_context():
        assert db.session.scalar(select(Event.actor_id).where(Event.action == "signed_in")) == user_id


def test_cli_disable_and_reset_password(app, runner, client):
    make_user(app)
    login(client)
    result = runner.invoke(args=["users", "reset-password", "olga", "--password-stdin"], input="another long one\n")
    assert result.exit_code == 0, result.output
    assert client.get("/moderation").status_code == 302  # the old session ended
    with app.app_context():
        assert verify(db.session.scalar(select(User.password_hash)), "another long one")
    refused = runner.invoke(args=["users", "disable", "olga"])
    assert refused.exit_code != 0 and "last moderator or admin" in refused.output  # nobody else could read
    make_user(app, "pavel", "moderator")
    assert login(client, "pavel").status_code == 303  # (his key pair is made at his first sign-in)
    assert runner.invoke(args=["users", "disable", "olga"]).exit_code == 0
    assert login(client, password="another long one").status_code == 422
    assert runner.invoke(args=["users", "disable", "nobody"]).exit_code != 0
