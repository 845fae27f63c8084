"""Passkeys and security keys for staff (issue 17, item 1), on the server side, with a software authenticator
(tests/authenticator.py) answering the server's options as a real key would, or lying as a phishing site, a
replay or a cloned key would. The browser side, with Chromium's virtual authenticator: test_e2e_keys.py."""

import ast
import html
import importlib
import re
from pathlib import Path

import cbor2
import pyotp
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event, SecurityKey, User
from tests.authenticator import SoftKey
from tests.helpers import PASSWORD, login, make_user

ORIGIN = "http://localhost"  # the test client's address: a relying-party id must be a name, never an IP


def options_in(page: str, name: str) -> str:
    found = re.search(rf'data-{name}-options="([^"]+)"', page)
    assert found, f"no {name} options on the page"
    return html.unescape(found.group(1))


def add_key(client, key: SoftKey, name="blue key", origin=ORIGIN, confirm: SoftKey | None = None, **fields):
    page = client.get("/auth/keys").get_data(as_text=True)
    data = {"name": name, "password": PASSWORD, "credential": key.create(options_in(page, "create"), origin)}
    if confirm:
        data["assertion"] = confirm.get(options_in(page, "get"), origin)
    return client.post("/auth/keys", data=data | fields)


def key_step(client, key: SoftKey, origin=ORIGIN, **login_fields):
    """Sign in with the password, then answer the key step's challenge."""
    first = login(client, **login_fields)
    assert first.status_code == 303 and first.location.endswith("/auth/key"), first.status_code
    page = client.get("/auth/key").get_data(as_text=True)
    assertion = key.get(options_in(page, "get"), origin)
    return client.post("/auth/key", data={"assertion": assertion}), assertion


@pytest.fixture
def with_key(app, client):
    """olga, signed in with the password alone, registers a key; then signs out."""
    make_user(app)
    login(client)
    key = SoftKey()
    response = add_key(client, key)
    assert response.status_code == 303, response.get_data(as_text=True)
    client.post("/auth/logout")
    return key


def signed_in(client) -> bool:
    return client.get("/moderation").status_code == 200


def test_a_key_is_registered_for_this_address_and_ends_other_sessions(app, client):
    make_user(app)
    login(client)
    other = app.test_client()
    login(other)
    key = SoftKey()
    response = add_key(client, key, name="blue key")
    assert response.status_code == 303
    with app.app_context():
        stored = db.session.scalars(select(SecurityKey)).one()
        assert (stored.name, stored.rp_id, stored.credential_id) == ("blue key", "localhost", key.credential_id)
        assert db.session.scalar(select(Event.action).order_by(Event.id.desc())) == "key_added"
    assert signed_in(client) and not signed_in(other)
    page = client.get("/auth/keys").get_data(as_text=True)
    assert "blue key" in page and "works on this address" in page


def test_adding_a_key_needs_the_password_and_a_name(app, client):
    make_user(app)
    login(client)
    assert add_key(client, SoftKey(), password="not the password").status_code == 422
    assert add_key(client, SoftKey(), name="  ").status_code == 422
    with app.app_context():
        assert db.session.scalar(select(SecurityKey.id)) is None


def test_a_registration_made_for_another_origin_is_refused(app, client):
    """A phishing site relaying our options gets an answer bound to its own origin: useless here."""
    make_user(app)
    login(client)
    response = add_key(client, SoftKey(), origin="https://prystan-login.example")
    assert response.status_code == 422
    assert "The new key was not registered" in response.get_data(as_text=True)


def test_sign_in_with_the_key(app, client, with_key):
    response, _assertion = key_step(client, with_key)
    assert response.status_code == 303 and response.location.endswith("/moderation")
    assert signed_in(client)
    with app.app_context():
        stored = db.session.scalars(select(SecurityKey)).one()
        assert stored.sign_count == with_key.sign_count and stored.last_used_at is not None


def test_the_key_step_needs_the_password_first(app, client, with_key):
    assert client.get("/auth/key").status_code == 303
    wrong = login(client, password="not the password")
    assert wrong.status_code == 422
    assert client.get("/auth/key").status_code == 303


def test_a_replayed_assertion_is_refused(app, client, with_key):
    first, assertion = key_step(client, with_key)
    assert first.status_code == 303
    client.post("/auth/logout")
    assert login(client).status_code == 303
    client.get("/auth/key")  # a new challenge: the old answer signed another one
    again = client.post("/auth/key", data={"assertion": assertion})
    assert again.status_code == 422 and not signed_in(client)


def test_an_assertion_from_a_cloned_key_is_refused(app, client, with_key):
    """A counter that goes back means a copy of the key: refused."""
    assert key_step(client, with_key)[0].status_code == 303
    client.post("/auth/logout")
    with_key.sign_count = 0  # the copy does not know how often the original was used
    response, _assertion = key_step(client, with_key)
    assert response.status_code == 422 and not signed_in(client)


def test_client_data_with_a_wrong_origin_is_refused(app, client, with_key):
    """The browser would never make one: a tampered clientDataJSON naming a look-alike site."""
    response, _assertion = key_step(client, with_key, origin="https://prystan.example.evil")
    assert response.status_code == 422 and not signed_in(client)
    assert "The key was not accepted" in response.get_data(as_text=True)


def test_a_key_signing_for_another_relying_party_is_refused(app, client, with_key):
    login(client)
    page = client.get("/auth/key").get_data(as_text=True)
    assertion = with_key.get(options_in(page, "get"), ORIGIN, rp_id="evil.example")
    assert client.post("/auth/key", data={"assertion": assertion}).status_code == 422


def test_another_accounts_key_is_refused(app, client, with_key):
    make_user(app, username="ivan")
    other = app.test_client()
    login(other, username="ivan")
    ivans = SoftKey()
    assert add_key(other, ivans).status_code == 303
    login(client)
    page = client.get("/auth/key").get_data(as_text=True)
    options = options_in(page, "get").replace("allowCredentials", "x")  # (the page offers only olga's)
    assert client.post("/auth/key", data={"assertion": ivans.get(options, ORIGIN)}).status_code == 422


def test_an_old_challenge_is_refused(app, client, with_key):
    login(client)
    page = client.get("/auth/key").get_data(as_text=True)
    options = options_in(page, "get")
    client.get("/auth/key")  # (another tab: a new challenge replaces the first)
    assert client.post("/auth/key", data={"assertion": with_key.get(options, ORIGIN)}).status_code == 422


def test_with_an_app_too_a_code_still_signs_in_unless_a_key_is_required(app, client, with_key):
    secret = pyotp.random_base32()
    with app.app_context():
        db.session.execute(db.update(User).values(totp_secret=secret))
        db.session.commit()
    response = login(client, otp=pyotp.TOTP(secret).now())
    assert response.status_code == 303 and response.location.endswith("/moderation")
    client.post("/auth/logout")
    assert login(client).location.endswith("/auth/key")  # no code typed: the key

    with app.app_context():
        db.session.execute(db.update(User).values(key_required=True, totp_last_step=None))
        db.session.commit()
    client.post("/auth/logout")
    only_key = login(client, otp=pyotp.TOTP(secret).now())
    assert only_key.location.endswith("/auth/key") and not signed_in(client)
    page = client.get("/auth/key").get_data(as_text=True)
    assert "authenticator app instead" not in page
    assertion = with_key.get(options_in(page, "get"), ORIGIN)
    assert client.post("/auth/key", data={"assertion": assertion}).status_code == 303


def test_a_key_of_another_address_is_not_offered_and_does_not_let_a_password_alone_in(app, client, with_key):
    with app.app_context():
        db.session.execute(db.update(SecurityKey).values(rp_id="prystanxyz.onion"))
        db.session.commit()
    response = login(client)
    assert response.status_code == 422 and not signed_in(client)
    page = client.get("/auth/keys")
    assert page.status_code == 302  # (not signed in)

    with app.app_context():
        db.session.execute(db.update(User).values(key_required=True))
        db.session.commit()
    refused = login(client)
    assert refused.status_code == 422
    assert "none is registered on this address" in refused.get_data(as_text=True)


def test_removing_the_last_factor_needs_the_password_and_the_key(app, client, with_key):
    key_step(client, with_key)
    with app.app_context():
        key_id = db.session.scalar(select(SecurityKey.id))
    page = client.get("/auth/keys").get_data(as_text=True)
    field = f"key{key_id}-"
    assert "your last second factor" in page
    no_key = client.post(f"/auth/keys/{key_id}/remove", data={field + "password": PASSWORD})
    assert no_key.status_code == 422
    page = no_key.get_data(as_text=True)
    assertion = with_key.get(options_in(page, "get"), ORIGIN)
    wrong = client.post(
        f"/auth/keys/{key_id}/remove", data={field + "password": "not the password", field + "assertion": assertion}
    )
    assert wrong.status_code == 422
    page = client.get("/auth/keys").get_data(as_text=True)
    assertion = with_key.get(options_in(page, "get"), ORIGIN)
    fields = {field + "password": PASSWORD, field + "assertion": assertion}
    done = client.post(f"/auth/keys/{key_id}/remove", data=fields)
    assert done.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(SecurityKey.id)) is None
        assert db.session.scalar(select(Event.action).order_by(Event.id.desc())) == "key_removed"


def test_removing_a_key_beside_an_app_needs_the_password_only(app, client, with_key):
    key_step(client, with_key)
    with app.app_context():
        db.session.execute(db.update(User).values(totp_secret=pyotp.random_base32()))
        db.session.commit()
        key_id = db.session.scalar(select(SecurityKey.id))
    response = client.post(f"/auth/keys/{key_id}/remove", data={f"key{key_id}-password": PASSWORD})
    assert response.status_code == 303


def test_a_second_key_needs_the_first_one_or_the_apps_code(app, client, with_key):
    key_step(client, with_key)
    without = add_key(client, SoftKey(), name="spare")
    assert without.status_code == 422 and "Confirm with one of your keys" in without.get_data(as_text=True)
    spare = SoftKey()
    assert add_key(client, spare, name="spare", confirm=with_key).status_code == 303

    secret = pyotp.random_base32()
    with app.app_context():
        db.session.execute(db.update(User).values(totp_secret=secret))
        db.session.commit()
    assert add_key(client, SoftKey(), name="third", current="000000").status_code == 422
    assert add_key(client, SoftKey(), name="third", current=pyotp.TOTP(secret).now()).status_code == 303
    with app.app_context():
        assert db.session.scalars(select(SecurityKey.name).order_by(SecurityKey.id)).all() == [
            "blue key",
            "spare",
            "third",
        ]


def test_the_same_key_is_not_registered_twice(app, client, with_key):
    key_step(client, with_key)
    page = client.get("/auth/keys").get_data(as_text=True)
    assert html.unescape(re.search(r'data-create-options="([^"]+)"', page).group(1)).count("excludeCredentials")
    again = add_key(client, with_key, confirm=with_key)
    assert again.status_code == 422


def test_an_admin_requires_a_key_and_a_reset_removes_keys(app, client, with_key):
    make_user(app, username="admin", role="admin")
    admin = app.test_client()
    login(admin, username="admin")
    with app.app_context():
        olga = db.session.scalar(select(User.id).where(User.username == "olga"))
    admin.post(f"/admin/users/{olga}/key-required")
    with app.app_context():
        assert db.session.get(User, olga).key_required
    page = admin.get("/admin/users").get_data(as_text=True)
    assert "1 key" in page and "key required" in page

    admin.post(f"/admin/users/{olga}/totp-reset")
    with app.app_context():
        assert db.session.scalar(select(SecurityKey.id)) is None
    # Without a key, a key-required account signs in with its password only to register one.
    assert login(client).status_code == 303
    queue = client.get("/moderation")
    assert queue.status_code == 302 and queue.location.endswith("/auth/keys")
    assert client.get("/auth/keys").status_code == 200


def test_a_moderator_cannot_require_keys_of_others(app, client, with_key):
    make_user(app, username="ivan")
    login(client, username="ivan")
    assert client.post("/admin/users/1/key-required").status_code in (403, 404)


def test_where_a_key_is_required_the_last_key_goes_only_with_the_key_itself(app, client, with_key):
    """Else a phisher holding the password and an app code could remove it and sign in with codes again."""
    secret = pyotp.random_base32()
    with app.app_context():
        db.session.execute(db.update(User).values(totp_secret=secret, key_required=True))
        db.session.commit()
        key_id = db.session.scalar(select(SecurityKey.id))
    key_step(client, with_key, otp=pyotp.TOTP(secret).now())
    field = f"key{key_id}-"
    refused = client.post(f"/auth/keys/{key_id}/remove", data={field + "password": PASSWORD})
    assert refused.status_code == 422 and "your last second factor" in refused.get_data(as_text=True)
    assertion = with_key.get(options_in(refused.get_data(as_text=True), "get"), ORIGIN)
    removed = client.post(
        f"/auth/keys/{key_id}/remove", data={field + "password": PASSWORD, field + "assertion": assertion}
    )
    assert removed.status_code == 303


class BrokenKey(SoftKey):
    def __init__(self, cose: bytes):
        super().__init__()
        self.cose = cose

    def cose_key(self) -> bytes:
        return self.cose


@pytest.mark.parametrize(
    "cose",
    [
        cbor2.dumps("x"),  # not a map at all
        cbor2.dumps({1: 2, 3: -7, -1: 1, -2: bytes(32), -3: bytes(32)}),  # a point that is not on the curve
        cbor2.dumps({1: 1, 3: -8, -1: 6, -2: b"short"}),  # an Ed25519 key of 5 bytes
    ],
)
def test_a_registration_with_a_broken_public_key_is_refused_not_an_error(app, client, cose):
    make_user(app)
    login(client)
    response = add_key(client, BrokenKey(cose))
    assert response.status_code == 422 and "The new key was not registered" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(SecurityKey.id)) is None


# The library's public API: its top level and `webauthn.helpers` (each with its __all__), and the dataclasses its
# README points to in `webauthn.helpers.structs`. Its other modules may move in any release.
PUBLIC_WEBAUTHN = ("webauthn", "webauthn.helpers", "webauthn.helpers.structs")


def test_the_webauthn_library_is_used_through_its_public_api_alone():
    root = Path(__file__).resolve().parent.parent
    breaches = []
    for path in sorted([*root.joinpath("app").rglob("*.py"), *root.joinpath("tests").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found = [(node.module, alias.name) for alias in node.names]
            else:
                continue
            for module, name in found:
                if module.split(".")[0] != "webauthn":
                    continue
                exported = getattr(importlib.import_module(module), "__all__", None)
                if module not in PUBLIC_WEBAUTHN or (name and exported is not None and name not in exported):
                    breaches.append(f"{path.relative_to(root)}:{node.lineno} {module} {name or ''}")
    assert breaches == []
