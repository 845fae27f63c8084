"""Second factors that hold (issue 13, item 4): the enrolling secret stays on the server, replacing a factor needs
the password and the current factor, codes work once, recovery codes work once, first passwords are changed, and an
unattended screen's polls do not keep a session alive."""

import re
import time

import pyotp
import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import RecoveryCode, User
from tests.helpers import PASSWORD, login, make_user


def enrol_page(client) -> tuple[str, str]:
    page = client.get("/auth/totp").get_data(as_text=True)
    key = re.search(r'<code class="totp-key">([A-Z2-7 ]+)</code>', page).group(1)
    return page, key.replace(" ", "")


def code_at(secret: str, offset: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset * 30)


def enrol(client, **fields):
    _page, secret = enrol_page(client)
    data = {"code": code_at(secret), "password": PASSWORD} | fields
    return client.post("/auth/totp", data=data), secret


def test_the_secret_is_made_and_kept_by_the_server_and_shown_for_typing(app, client):
    make_user(app)
    login(client)
    page, key = enrol_page(client)
    assert "<svg" in page and "<img" not in page  # the QR code is drawn inline, by us
    assert 'name="secret"' not in page
    with app.app_context():
        assert db.session.scalar(select(User.totp_pending)) == key
    assert enrol_page(client)[1] == key  # the same key until enrolment ends


def test_a_secret_chosen_by_the_client_is_never_enrolled(app, client):
    make_user(app)
    login(client)
    enrol_page(client)
    mine = pyotp.random_base32()
    response = client.post("/auth/totp", data={"secret": mine, "code": code_at(mine), "password": PASSWORD})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(User.totp_secret)) is None


def test_enrolment_needs_the_password_and_ends_other_sessions(app, client):
    make_user(app)
    login(client)
    other = app.test_client()
    login(other)
    wrong, _secret = enrol(client, password="not the password")
    assert wrong.status_code == 422 and "This is not your current password." in wrong.get_data(as_text=True)
    done, secret = enrol(client)
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", html)
    assert len(codes) == 10 and len(set(codes)) == 10
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        assert user.totp_secret == secret and user.totp_pending is None
        stored = db.session.scalars(select(RecoveryCode.digest)).all()
        assert len(stored) == 10 and not any(code.replace("-", "") in " ".join(stored) for code in codes)
    assert client.get("/moderation").status_code == 200  # this session goes on
    assert other.get("/moderation").status_code == 302  # the other one ended


def test_replacing_a_factor_needs_the_current_one(app, client):
    make_user(app)
    login(client)
    _done, first = enrol(client)
    refused, _ = enrol(client, current="")
    assert refused.status_code == 422
    with app.app_context():
        assert db.session.scalar(select(User.totp_secret)) == first
    replaced, second = enrol(client, current=code_at(first, 1))
    assert replaced.status_code == 200
    with app.app_context():
        assert db.session.scalar(select(User.totp_secret)) == second != first


@pytest.mark.parametrize("code", ["abcdef", "1" * 500, "12 34 5", "", "١٢٣٤٥٦"])
def test_malformed_codes_are_form_errors(app, client, code):
    make_user(app)
    login(client)
    enrol_page(client)
    assert client.post("/auth/totp", data={"code": code, "password": PASSWORD}).status_code == 422


def test_a_code_works_once(app, client):
    secret = pyotp.random_base32()
    make_user(app, totp_secret=secret)
    code = code_at(secret)
    assert login(client, otp=code).status_code == 303
    assert login(app.test_client(), otp=code).status_code == 422  # the same code again, even from elsewhere
    assert login(app.test_client(), otp=code_at(secret, -1)).status_code == 422  # and any older one
    assert login(app.test_client(), otp=code_at(secret, 1)).status_code == 303  # the next period's is new


def test_a_recovery_code_works_once_in_place_of_the_app(app, client):
    make_user(app)
    login(client)
    done, _secret = enrol(client)
    recovery = re.findall(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>", done.get_data(as_text=True))
    assert login(app.test_client(), otp=recovery[3].upper().replace("-", " ")).status_code == 303
    assert login(app.test_client(), otp=recovery[3]).status_code == 422
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(RecoveryCode)) == 9


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "PASSWORD_RATELIMIT": "2 per hour"}])
def test_password_guessing_in_a_signed_in_session_is_limited(app, client):
    make_user(app)
    login(client)
    wrong = {"current": "not it at all", "new": "a new long password", "confirm": "a new long password"}
    assert [client.post("/auth/password", data=wrong).status_code for _ in range(3)] == [422, 422, 429]


def test_a_first_password_set_by_an_admin_is_changed_at_first_sign_in(app, client):
    make_user(app, "ada", "admin")
    login(client, "ada")
    client.post("/admin/users", data={"username": "new_mod", "role": "moderator", "password": "first password 1"})
    mod = app.test_client()
    first = login(mod, "new_mod", "first password 1")
    assert first.status_code == 303 and first.headers["Location"] == "/auth/password"
    assert mod.get("/moderation").headers["Location"] == "/auth/password"
    assert "Choose your own to continue" in mod.get("/auth/password").get_data(as_text=True)
    changed = mod.post(
        "/auth/password",
        data={"current": "first password 1", "new": "my own long password", "confirm": "my own long password"},
    )
    assert changed.status_code == 303
    assert mod.get("/moderation").status_code == 200


def test_accounts_made_on_the_command_line_need_no_change(app, client, runner):
    runner.invoke(
        args=["users", "create", "cli_mod", "--role", "moderator", "--password-stdin"], input="a long enough password\n"
    )
    response = login(client, "cli_mod", "a long enough password")
    assert response.headers["Location"] == "/moderation"


@pytest.mark.parametrize("app_config", [{"IDLE_TIMEOUT": 4}])
@pytest.mark.parametrize("background", [True, False])
def test_the_queues_poll_does_not_keep_an_unattended_session_alive(app, client, background):
    make_user(app)
    login(client)
    headers = {"HX-Request": "true"} | ({"X-Prystan-Background": "1"} if background else {})
    with time_machine.travel(time.time(), tick=False) as clock:
        clock.shift(3)
        assert client.get("/moderation/new?last=0", headers=headers).status_code == 200
        clock.shift(3)  # 6 s after the last request of the person's own, 3 s after the poll
        assert client.get("/moderation").status_code == (302 if background else 200)


def test_the_queue_marks_its_poll_as_background(app, client):
    make_user(app)
    login(client)
    html = client.get("/moderation").get_data(as_text=True)
    assert re.search(r'id="new-items"[^>]*hx-headers=\'\{"X-Prystan-Background": "1"\}\'', html)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "PASSWORD_RATELIMIT": "2 per hour"}])
def test_wrong_passwords_share_one_budget_across_the_pages_that_ask_for_it(app, client):
    """Changing the password, the app or the keys: a guesser with a stolen session gets PASSWORD_RATELIMIT in
    all, not that many on each page."""
    make_user(app)
    login(client)
    wrong = {"current": "not it at all", "password": "not it at all", "new": "a new long password"}
    assert client.post("/auth/password", data=wrong | {"confirm": wrong["new"]}).status_code == 422
    assert client.post("/auth/totp", data=wrong | {"code": "123456"}).status_code == 422
    assert client.post("/auth/keys", data=wrong | {"name": "phone"}).status_code == 429
    assert client.post("/auth/keys/1/remove", data=wrong).status_code == 429
