"""What a copy of the server gives of the rate limiter's keys: no address, even with the secret key.

The attacker of these tests has SECRET_KEY, every file the site wrote (its instance folder, database, stores) and,
to make it harder for us, the names of every counter in the limiter's storage (memory or Redis). They try every
address of the /24 the test sent from, with every purpose the code uses, as keyed hashes under keys derived from
the secret key: nothing may match. The random daily key that does open them is held in memory only."""

import hashlib
import hmac
import ipaddress
import os
import uuid

import pytest
from sqlalchemy import select

from app.extensions import db, limiter
from app.ratekeys import DAY, KEEP
from app.security import derive_key
from tests.helpers import PASSWORD, REDIS_URL, SECRET, make_user, redis_available

SENDER = "127.0.0.77"
PURPOSES = [
    "ratelimit",
    "ratelimit-onion",
    "login-account-address",
    "login-key-step",
    "login-known",
    "login-failed",
    "login-delay",
    "password-change",
]


def candidates(account: str = "olga") -> set[str]:
    """Every name an attacker holding SECRET_KEY can compute for an address of the sender's /24."""
    found = set()
    for address in ipaddress.ip_network(SENDER + "/24", strict=False):
        for value in (str(address), f"{account}\0{address}", f"1\0{address}"):
            for purpose in PURPOSES:
                key = derive_key(SECRET, purpose)
                for message in (value.encode(), purpose.encode() + b"\0" + value.encode()):
                    found.add(hmac.new(key, message, hashlib.sha256).hexdigest()[:32])
    return found


def counter_names(app) -> set[str]:
    """The names of every counter in the limiter's storage (in Redis, all of it but the daily keys themselves)."""
    storage = limiter.storage
    if app.config["RATELIMIT_STORAGE_URI"].startswith("redis"):
        names = {k.decode() for k in storage.get_connection().scan_iter("*")}
        return {n for n in names if not n.startswith("prystan:ratekey:")}
    return set(storage.storage) | set(storage.events)


def files_of(folder) -> bytes:
    data = b""
    for root, _dirs, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as f:
                data += f.read()
    return data


def send_from(app, address: str) -> None:
    """A form taken, a wrong receipt code, a failed and a good sign-in, a report: every kind of counter."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    assert client.post("/submit/information", data={"telegram": "anna_k1", "body": "A tip."}).status_code == 200
    assert client.post("/status", data={"code": "1234 5678 1234 5678"}).status_code in (200, 404, 422)
    assert client.post("/auth/login", data={"username": "olga", "password": "wrong password!"}).status_code == 422
    assert client.post("/auth/login", data={"username": "olga", "password": PASSWORD}).status_code == 303


def database_dump(app) -> bytes:
    """What a dump of the database holds (pg_dump's rows, or SQLite's tables): every value of every row."""
    with app.app_context():
        return "\n".join(
            repr(tuple(row)) for table in db.metadata.sorted_tables for row in db.session.execute(select(table))
        ).encode()


SEIZED = {"RATELIMIT_ENABLED": True, "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}", "POW_ENABLED": False}


@pytest.mark.parametrize(
    "app_config", [SEIZED | {"RATELIMIT_STORAGE_URI": uri} for uri in ("memory://", REDIS_URL)], ids=["memory", "redis"]
)
def test_a_seized_copy_with_the_secret_key_does_not_give_back_the_address(app, tmp_path):
    if app.config["RATELIMIT_STORAGE_URI"].startswith("redis") and not redis_available():
        pytest.skip("Redis is not running here (CI runs it)")
    make_user(app)
    with app.app_context():
        before = counter_names(app)  # (a shared Redis holds other tests' counters)
    send_from(app, SENDER)
    with app.app_context():
        names = counter_names(app) - before
        daily = app.extensions["ratekeys"].recent(limiter.storage, app.config["RATELIMIT_KEY_PREFIX"])[0]
    assert len(names) >= 4  # the submission, the status, the sign-in and its throttle counted
    seized = files_of(tmp_path) + database_dump(app)
    assert b"olga" in seized  # (the copy holds the database: SQLite's file, or PostgreSQL's rows)
    tried = candidates()
    assert not [name for name in names if any(c in name for c in tried)]
    assert not [c for c in tried if c.encode() in seized]
    # The key that does open them is in no file.
    assert daily not in seized and daily.hex().encode() not in seized


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "2 per day"}])
def test_the_key_is_new_every_day_and_a_new_key_costs_at_most_a_window(app):
    keys = app.extensions["ratekeys"]
    now = [1_000 * DAY + 3600.0]
    keys.clock = lambda: now[0]
    client = app.test_client()
    form = {"telegram": "anna_k1", "body": "A tip."}
    assert [client.post("/submit/information", data=form).status_code for _ in range(3)] == [200, 200, 429]
    with app.app_context():
        first = keys.recent(limiter.storage, "")[0]
    now[0] += DAY
    with app.app_context():
        second = keys.recent(limiter.storage, "")[0]
    assert first != second and len(first) == 32
    assert client.post("/submit/information", data=form).status_code == 200  # a new day's key, new counts


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True}])
def test_an_address_that_signed_in_stays_known_for_30_days(app):
    from app.auth import throttle

    keys = app.extensions["ratekeys"]
    now = [1_000 * DAY + 3600.0]
    keys.clock = lambda: now[0]
    make_user(app)

    def attempt(address, password="wrong password!"):
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client.post("/auth/login", data={"username": "olga", "password": password}).status_code

    def strangers_guess():
        for n in range(throttle.FREE + 1):
            assert attempt(f"192.0.2.{n}") in (422, 429)

    assert attempt("203.0.113.5", PASSWORD) == 303  # the moderator's usual connection, day 0
    now[0] += KEEP * DAY - 3600  # 30 days later, less an hour: still known
    strangers_guess()
    assert attempt("198.51.100.1", PASSWORD) == 429  # a new address waits
    assert attempt("203.0.113.5") == 422  # the known one does not (a typo there: tried, not delayed)
    now[0] += 2 * DAY  # past the 30 days: the day-0 key is forgotten, and with it the address
    strangers_guess()
    assert attempt("203.0.113.5", PASSWORD) == 429
    with app.app_context():
        assert len(keys.recent(limiter.storage, "")) <= KEEP + 1
