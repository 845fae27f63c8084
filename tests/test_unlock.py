"""Unlocked sessions (issue 24, item 3; AT-REST.md, "Unlocked sessions"): a sign-in opens the staff secret key only
after its second factor, every path that starts a fresh session keeps it open, and sign-out, "end sessions now", a
session-version bump and both timeouts close it; any instance on the same database opens it with one indexed read,
and neither the database nor the cookie alone holds it. Everything goes through the real sign-in forms."""

import base64
import json
import time
from pathlib import Path

import pyotp
import pytest
import time_machine
from sqlalchemy import event, select

from app import sessions, staff
from app.auth.keys import CHALLENGE_MINUTES
from app.crypto import epochs, sodium, staffkeys, unlocking
from app.extensions import db
from app.models import PendingUnlock, QueueEpoch, UnlockedSession, User
from tests.authenticator import SoftKey
from tests.helpers import PASSWORD, count, login, make_app, make_user, sign_in
from tests.test_factors import code_at, enrol_page
from tests.test_keys import ORIGIN, add_key, key_step, options_in

COOKIE = "prystan_session"
NEW_PASSWORD = "a new password of mine"


def cookie_of(client) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def session_in(app, cookie: str) -> dict:
    """What the session cookie carries (signed by Flask, not encrypted)."""
    return app.session_interface.get_signing_serializer(app).loads(cookie)


def key_in_request(app, cookie: str | None) -> bytes | None:
    """sessions.staff_key() in a request that carries ``cookie``, after the app's own before-request hooks."""
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    with app.test_request_context("/moderation", headers=headers):
        app.preprocess_request()
        return sessions.staff_key()


def public_key(app, user_id: int) -> bytes | None:
    with app.app_context():
        return db.session.get(User, user_id).public_key


def unlocked(app, client, user_id: int) -> bool:
    """The client's session opens the account's secret key: the one that belongs to its public key."""
    key = key_in_request(app, cookie_of(client))
    return key is not None and sodium.public_of(key) == public_key(app, user_id)


def rows(app) -> tuple[int, int]:
    """(unlocked sessions, pending unlocks) in the database."""
    return count(app, UnlockedSession), count(app, PendingUnlock)


def wrong_code(secret: str) -> str:
    return f"{(int(pyotp.TOTP(secret).now()) + 1) % 10**6:06d}"


@pytest.fixture
def keyed(app, client):
    """olga, signed in with the password alone, registers a passkey, then signs out: (her id, the key)."""
    user_id = make_user(app)
    assert login(client).status_code == 303
    key = SoftKey()
    assert add_key(client, key).status_code == 303
    client.post("/auth/logout")
    return user_id, key


# The second factor first


def test_a_right_password_without_the_apps_code_unlocks_nothing(app, client):
    secret = pyotp.random_base32()
    user_id = make_user(app, totp_secret=secret)
    for code in ("", wrong_code(secret)):
        response = login(client, otp=code)
        assert response.status_code == 422
        assert rows(app) == (0, 0)
        assert key_in_request(app, cookie_of(client)) is None
    assert client.get("/moderation").status_code == 302
    sign_in(client, app, user_id)  # (and with the code, it does)
    assert unlocked(app, client, user_id)


def test_a_right_password_before_its_key_keeps_only_what_the_cookie_opens(app, client, keyed):
    user_id, _key = keyed
    assert login(client).location.endswith("/auth/key")
    assert rows(app) == (0, 1)  # kept for the key step, and nothing unlocked
    assert key_in_request(app, cookie_of(client)) is None
    assert client.get("/moderation").status_code == 302

    token = session_in(app, cookie_of(client))["key_step"]["unlock"]
    with app.app_context():
        row = db.session.scalars(select(PendingUnlock)).one()
        user = db.session.get(User, user_id)
        secret = staffkeys.unlock(user.locked_key, PASSWORD)
        assert secret not in row.sealed and row.id != base64.urlsafe_b64decode(token)
        for other in (
            None,
            "",
            base64.urlsafe_b64encode(sodium.random_bytes()).decode(),
            base64.urlsafe_b64encode(row.id).decode(),
        ):
            assert unlocking.take_pending(user, other) is None
        assert db.session.get(PendingUnlock, row.id) is not None  # (a wrong token does not even spend it)
    # Another browser, without this sign-in's cookie, gets no key step at all.
    assert app.test_client().get("/auth/key").location.endswith("/auth/login")


def test_a_wrong_key_at_the_key_step_unlocks_nothing(app, client, keyed):
    response, _assertion = key_step(client, keyed[1], origin="https://prystan.example.evil")
    assert response.status_code == 422
    assert rows(app)[0] == 0 and key_in_request(app, cookie_of(client)) is None


# Each way in unlocks


def test_a_sign_in_with_the_apps_code_unlocks(app, client):
    user_id = make_user(app, totp_secret=pyotp.random_base32())
    sign_in(client, app, user_id)
    assert unlocked(app, client, user_id)
    assert rows(app) == (1, 0)


def test_a_passkey_sign_in_unlocks_at_the_key_step(app, client, keyed):
    user_id, key = keyed
    response, _assertion = key_step(client, key)
    assert response.status_code == 303 and response.location.endswith("/moderation")
    assert unlocked(app, client, user_id)
    assert rows(app) == (1, 0)  # the pending row was spent


def test_an_expired_key_step_unlocks_nothing(app, client, runner, keyed):
    user_id, key = keyed
    assert login(client).location.endswith("/auth/key")
    page = client.get("/auth/key").get_data(as_text=True)
    token = session_in(app, cookie_of(client))["key_step"]["unlock"]
    later = time.time() + CHALLENGE_MINUTES * 60 + 5
    with time_machine.travel(later, tick=False):
        answer = client.post("/auth/key", data={"assertion": key.get(options_in(page, "get"), ORIGIN)})
        assert answer.status_code == 303 and answer.location.endswith("/auth/login")
        assert rows(app)[0] == 0 and key_in_request(app, cookie_of(client)) is None
        with app.app_context():  # the row itself refuses, whoever asks with the token
            assert unlocking.take_pending(db.session.get(User, user_id), token) is None
        assert rows(app) == (0, 1) and runner.invoke(args=["uploads", "gc"]).exit_code == 0
        assert rows(app) == (0, 0)  # and the hourly clean-up deletes it


# A fresh session after a change is unlocked too


def test_enrolling_an_app_keeps_the_session_unlocked(app, client):
    user_id = make_user(app)
    login(client)
    _page, secret = enrol_page(client)
    done = client.post("/auth/totp", data={"code": code_at(secret), "password": PASSWORD})
    assert done.status_code == 200
    assert unlocked(app, client, user_id)


def test_adding_a_key_keeps_the_session_unlocked(app, client, keyed):
    user_id, key = keyed
    key_step(client, key)
    assert add_key(client, SoftKey(), name="spare", confirm=key).status_code == 303
    assert unlocked(app, client, user_id)


def change_password(client, current=PASSWORD, new=NEW_PASSWORD):
    response = client.post("/auth/password", data={"current": current, "new": new, "confirm": new})
    assert response.status_code == 303, response.get_data(as_text=True)


def test_a_change_of_password_keeps_the_session_unlocked_with_the_same_pair(app, client):
    with app.app_context():
        user_id = staff.create("olga", "moderator", PASSWORD).id
        held = epochs.held(db.session.get(User, user_id))
        newest = epochs.current().id
    before = public_key(app, user_id)
    login(client)
    change_password(client)
    assert public_key(app, user_id) == before
    assert unlocked(app, client, user_id)
    with app.app_context():
        assert epochs.held(db.session.get(User, user_id)) == held and epochs.current().id == newest
        assert staffkeys.unlock(db.session.get(User, user_id).locked_key, NEW_PASSWORD)


def test_a_first_password_chosen_by_an_admin_gives_way_to_a_new_pair_that_holds_the_same_epochs(app, client):
    with app.app_context():
        admin = staff.create("ann", "admin", PASSWORD)
        user_id = staff.create("olga", "moderator", "the admin knows this one", by=admin).id
        held = epochs.held(db.session.get(User, user_id))
    before = public_key(app, user_id)
    assert login(client, password="the admin knows this one").location.endswith("/auth/password")
    change_password(client, current="the admin knows this one")
    after = public_key(app, user_id)
    assert after != before
    key = key_in_request(app, cookie_of(client))
    assert key is not None and sodium.public_of(key) == after
    with app.app_context():
        user = db.session.get(User, user_id)
        now_held = epochs.held(user)
        assert set(held) < set(now_held) and epochs.current().id in now_held
        for epoch_id in now_held:  # each wrap opens with the new secret key, to the epoch's own secret key
            epoch_secret = epochs.open_epoch(user, key, epoch_id)
            assert sodium.public_of(epoch_secret) == db.session.get(QueueEpoch, epoch_id).public_key


# What closes it


def test_a_signed_out_cookie_replayed_unlocks_nothing(app, client):
    user_id = make_user(app)
    login(client)
    saved = cookie_of(client)
    assert unlocked(app, client, user_id)
    token = session_in(app, saved)["unlock"]
    client.post("/auth/logout")
    client.set_cookie(COOKIE, saved)
    assert client.get("/moderation").status_code == 302
    assert key_in_request(app, saved) is None
    assert rows(app) == (0, 0)
    with app.app_context():  # not only the session version: the row is gone, token or not
        assert unlocking.staff_secret(db.session.get(User, user_id), token) is None


def two_signed_in(app, client):
    """olga's client and an admin's, both signed in: (olga's id, the admin's id, the admin's client)."""
    user_id = make_user(app)
    admin_id = make_user(app, "ann", "admin")
    admin = app.test_client()
    login(admin, "ann")
    login(client)
    assert unlocked(app, client, user_id) and unlocked(app, admin, admin_id)
    return user_id, admin_id, admin


@pytest.mark.parametrize(
    "how",
    [
        "end-sessions",
        "cli end-sessions",
        "role",
        "disable",
    ],
)
def test_an_admins_change_closes_the_session(app, client, runner, how):
    user_id, admin_id, admin = two_signed_in(app, client)
    saved = cookie_of(client)
    if how == "cli end-sessions":
        assert runner.invoke(args=["users", "end-sessions", "olga"]).exit_code == 0
    else:
        url = {"end-sessions": "end-sessions", "role": "role", "disable": "active"}[how]
        response = admin.post(f"/admin/users/{user_id}/{url}", data={"role": "editor"})
        assert response.status_code == 303
    assert key_in_request(app, saved) is None
    with app.app_context():
        assert unlocking.sessions_of(user_id) == 0
        assert unlocking.staff_secret(db.session.get(User, user_id), session_in(app, saved)["unlock"]) is None
    assert unlocked(app, admin, admin_id)  # only hers


def test_the_idle_timeout_closes_the_session(app, client):
    user_id = make_user(app)
    login(client)
    cookie = cookie_of(client)
    token = session_in(app, cookie)["unlock"]
    with time_machine.travel(time.time() + app.config["IDLE_TIMEOUT"] + 5, tick=False):
        with app.app_context():  # a worker that never ran the timeout hook: the row is there, and dead
            assert unlocking.sessions_of(user_id) == 1
            assert unlocking.staff_secret(db.session.get(User, user_id), token) is None
        assert client.get("/moderation").status_code == 302  # the person's next request deletes it
        assert rows(app) == (0, 0)
        assert key_in_request(app, cookie) is None


@pytest.mark.parametrize("app_config", [{"IDLE_TIMEOUT": 600, "SESSION_MAX_AGE": 1000}])
def test_the_absolute_limit_closes_a_session_kept_busy(app, client):
    user_id = make_user(app)
    start = time.time()
    login(client)
    for seconds in (300, 600, 900):  # a request every five minutes: never idle
        with time_machine.travel(start + seconds, tick=False):
            assert client.get("/moderation").status_code == 200
            assert unlocked(app, client, user_id)
    cookie = cookie_of(client)
    with time_machine.travel(start + 1005, tick=False):
        with app.app_context():  # the row is there, and dead
            assert unlocking.sessions_of(user_id) == 1
            assert unlocking.staff_secret(db.session.get(User, user_id), session_in(app, cookie)["unlock"]) is None
        assert client.get("/moderation").status_code == 302
        assert rows(app) == (0, 0)


def test_a_session_is_never_signed_in_yet_locked(app, client):
    """The row's idle clock is renewed at most once a minute (no write on every request), and the session's own
    clock on every request: the session must end when the row does, never go on without its key."""
    user_id = make_user(app)
    start = time.time()
    login(client)
    idle = app.config["IDLE_TIMEOUT"]
    for seconds in (10, 65, 100, idle + 40, idle + 90, 2 * idle + 50, 3 * idle + 200):
        with time_machine.travel(start + seconds, tick=False):
            signed_in = client.get("/moderation").status_code == 200
            assert signed_in == unlocked(app, client, user_id), f"{seconds} s after the sign-in"
    assert not signed_in


@pytest.mark.parametrize("by", ["another sign-in", "flask uploads gc", "flask purge"])
def test_a_timed_out_row_leaves_the_database_without_its_owner_coming_back(app, client, runner, by):
    make_user(app)
    make_user(app, "ivan")
    login(client)
    with time_machine.travel(time.time() + app.config["IDLE_TIMEOUT"] + 5, tick=False):
        assert rows(app) == (1, 0)
        if by.startswith("flask"):  # (hourly, daily)
            result = runner.invoke(args=by.split()[1:])
            assert result.exit_code == 0 and "Removed 1 timed-out" in result.output
            assert rows(app) == (0, 0)
        else:  # every row made purges the dead ones
            login(app.test_client(), "ivan")
            with app.app_context():
                assert db.session.scalars(select(User.username).join(UnlockedSession)).all() == ["ivan"]


# Any instance, one read


@pytest.fixture
def app_b(app, tmp_path):
    """A second instance of the site on the same database, with the same SECRET_KEY (another server)."""
    other = make_app(tmp_path)
    assert other.config["SQLALCHEMY_DATABASE_URI"] == app.config["SQLALCHEMY_DATABASE_URI"]
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_signed_in_on_one_instance_unlocked_on_another_with_one_indexed_read(app, client, app_b):
    user_id = make_user(app, totp_secret=pyotp.random_base32())
    sign_in(client, app, user_id)
    client_b = app_b.test_client()
    client_b.set_cookie(COOKIE, cookie_of(client))
    assert client_b.get("/moderation").status_code == 200  # (renews the idle clock: no write in the request below)

    statements = []
    with app_b.test_request_context("/moderation", headers={"Cookie": f"{COOKIE}={cookie_of(client_b)}"}):
        assert app_b.preprocess_request() is None  # signed in, the account loaded

        def seen(_conn, _cursor, statement, parameters, _context, _many):
            statements.append((statement, parameters))

        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            key = sessions.staff_key()
            assert sessions.staff_key() is key  # (asked again in the request: no second read)
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
        assert key is not None and sodium.public_of(key) == db.session.get(User, user_id).public_key
        assert len(statements) == 1, statements
        statement, parameters = statements[0]
        flat = " ".join(statement.split())
        assert "FROM unlocked_sessions WHERE unlocked_sessions.id = " in flat and "JOIN" not in flat
        if db.engine.dialect.name == "sqlite":  # the primary key's index, not a scan
            plan = db.session.connection().exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            detail = " ".join(row[-1] for row in plan)
            assert "SEARCH unlocked_sessions USING INDEX" in detail and "(id=?)" in detail, detail


def test_a_key_step_finished_on_another_instance_unlocks(app, client, app_b, keyed):
    """The password on one server, the key on another (a load balancer): the pending row is in the database."""
    user_id, key = keyed
    assert login(client).location.endswith("/auth/key")
    client_b = app_b.test_client()
    client_b.set_cookie(COOKIE, cookie_of(client))
    page = client_b.get("/auth/key").get_data(as_text=True)
    answer = client_b.post("/auth/key", data={"assertion": key.get(options_in(page, "get"), ORIGIN)})
    assert answer.status_code == 303 and answer.location.endswith("/moderation")
    assert unlocked(app, client_b, user_id) and rows(app) == (1, 0)


def test_signing_out_on_one_instance_closes_the_session_on_the_other(app, client, app_b):
    user_id = make_user(app)
    login(client)
    saved = cookie_of(client)
    assert key_in_request(app_b, saved) is not None
    client.post("/auth/logout")
    assert key_in_request(app_b, saved) is None
    with app_b.app_context():
        assert unlocking.sessions_of(user_id) == 0


# Accounts and what is stored


def test_an_account_made_before_keys_gets_its_pair_at_its_first_sign_in(app, client):
    user_id = make_user(app)
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user.public_key is None and user.locked_key is None
    login(client)
    assert public_key(app, user_id) is not None
    assert unlocked(app, client, user_id)
    with app.app_context():
        assert epochs.current().id in epochs.held(db.session.get(User, user_id))  # a moderator: it reads


def test_an_account_made_before_keys_gets_its_pair_at_a_passkey_sign_in(app, client, keyed):
    user_id, key = keyed
    with app.app_context():  # as if the key had been registered before keys existed
        db.session.execute(db.update(User).values(public_key=None, locked_key=None))
        db.session.commit()
    assert key_step(client, key)[0].status_code == 303
    assert public_key(app, user_id) is not None and unlocked(app, client, user_id)


def database_bytes(app) -> bytes:
    """Every byte of the SQLite database as it is on disk (its write-ahead log included)."""
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_neither_the_database_nor_the_cookie_alone_holds_the_key(app, client):
    user_id = make_user(app)
    login(client)
    cookie = cookie_of(client)
    token = session_in(app, cookie)["unlock"]
    cookie_key = base64.urlsafe_b64decode(token)
    with app.app_context():
        row = db.session.scalars(select(UnlockedSession)).one()
        secret = staffkeys.unlock(db.session.get(User, user_id).locked_key, PASSWORD)
        # The row: the secret key under the cookie's key, named by that key's digest, never by the key.
        assert secret not in row.sealed and cookie_key not in row.sealed and token.encode() not in row.sealed
        assert row.id != cookie_key and row.id == sodium.digest(cookie_key, person=b"prystan-unlock")
        with pytest.raises(sodium.Refused):
            sodium.open_(row.id, row.sealed)
        assert sodium.open_(cookie_key, row.sealed) == secret
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        on_disk = database_bytes(app)
        assert secret not in on_disk and cookie_key not in on_disk and token.encode() not in on_disk
    # The cookie: the token, never the secret key in any spelling.
    carried = json.dumps(session_in(app, cookie))
    for spelling in (base64.b64encode(secret), base64.urlsafe_b64encode(secret), secret.hex().encode()):
        assert spelling.decode() not in carried
