"""What tests build on: an app with a real database, submissions and staff made as the app makes them, sign-in
through the form, and small readers of pages. The fixtures that use them are in conftest.py."""

import functools
import os
import re

from app import create_app
from app.extensions import db
from app.models import Submission
from app.submissions import create as service
from app.submissions import public_copy, sealed

TEST_DATABASE_URL = os.environ.get("PRYSTAN_TEST_DATABASE_URL")


SECRET = "test-secret-key-that-is-long-enough-0123456789"


def database_url(tmp_path) -> str:
    return TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'test.db'}"


# Each test's work folder is in RAM, as in production, and its own (a leftover cannot leak into another test).
RAM_ROOT = f"/dev/shm/prystan-tests-{os.getpid()}"


def ram_folder(tmp_path) -> str:
    return os.path.join(RAM_ROOT, tmp_path.name)


def work_leftovers(app) -> list[str]:
    """What is left in the work folder (the lock files of the sandbox and of receipts aside): nothing, once a
    request has ended."""
    return sorted(set(os.listdir(app.config["UPLOAD_WORKDIR"])) - {".slots", ".receipt-slots"})


def make_app(tmp_path, **overrides):
    config = {
        "TESTING": True,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": database_url(tmp_path),
        "STORAGE_URL": str(tmp_path / "uploads"),
        "UPLOAD_WORKDIR": ram_folder(tmp_path),
        "RESUMABLE_DIR": str(tmp_path / "resumable"),
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
        # libsodium's floor (NOTES.md): a sign-in derives a key, and 1,300 tests would pay half a second each.
        "KEK_OPSLIMIT": 1,
        "KEK_MEMLIMIT": 8192,
        # ...and every receipt made or typed derives one too.
        "RECEIPT_OPSLIMIT": 1,
        "RECEIPT_MEMLIMIT": 8192,
    }
    config.update(overrides)
    return create_app(config)


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
        code = service.create(kind, dict(fields), locale="en")
        submission = db.session.scalars(db.select(Submission).order_by(Submission.id.desc())).first()
        submission.status = status
        for name, value in other.items():
            if name == "reject_note":  # sealed to the item, as decisions.reject seals it
                submission.sealed_reject_note = sealed.seal_for_item(submission, value)
            else:
                setattr(submission, name, value)
        if kind == "ad" and status == "approved":  # published: readers see its public copy, as approval writes it
            public_copy.publish(submission, sealed.Texts.of(fields), None, photos=())  # (no photo: no key needed)
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


def solved_pow(client) -> str:
    """Fetch the site's proof-of-work challenge and solve it, as pow.js does in a browser."""
    import base64
    import json

    import altcha

    response = client.get("/pow/challenge")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    challenge = response.get_json()
    solution = altcha.solve_challenge_v1(challenge["challenge"], challenge["salt"], max_number=challenge["maxnumber"])
    return base64.b64encode(
        json.dumps(
            {
                "algorithm": challenge["algorithm"],
                "challenge": challenge["challenge"],
                "number": solution.number,
                "salt": challenge["salt"],
                "signature": challenge["signature"],
            }
        ).encode()
    ).decode()


# The Redis server of this machine (CI runs one): where a test needs Redis, it fails in CI if none answers.
REDIS_URL = "redis://127.0.0.1:6379"


def redis_available() -> bool:
    import pytest
    import redis

    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            pytest.fail("Redis is not answering on 127.0.0.1:6379")
        return False


def staff_opener(username="olga", password=PASSWORD):
    """(In an app context.) What this staff member's unlocked session opens: the key their password unlocks (an
    account made by make_user gets its key pair here, as at its first sign-in; a moderator is made if the test has
    none of that name)."""
    from flask import current_app

    from app import staff

    if staff.find(username) is None:
        make_user(current_app, username, password=password)
    user = staff.find(username)
    return sealed.Opener.for_staff(user, staff.open_key(user, password))


def texts(app, submission_id, username="olga"):
    """An item's words as a moderator reads them (the account is made if the test has none)."""
    from app import staff

    with app.app_context():
        if staff.find(username) is None:
            make_user(app, username)
        return staff_opener(username).texts(db.session.get(Submission, submission_id))


def approve(submission_id, version, user, public_images=(), password=PASSWORD):
    """(In an app context.) decisions.approve as the moderation page calls it: with this staff member's key, which
    opens the item's words and photos (an ad is published from them)."""
    from app.submissions import decisions

    return decisions.approve(submission_id, version, user, public_images, staff_opener(user.username, password))


def make_reader(app, username="olga", role="moderator", password=PASSWORD) -> int:
    """A staff account made as the site makes one (flask users create): with its key pair, so it reads what
    arrives from now on. (make_user's accounts get theirs at their first sign-in, as accounts made before keys
    did: then only the first of them to sign in receives what arrived before.)"""
    from app import staff

    with app.app_context():
        return staff.create(username, role, password).id


def stored_plain(app, key: str) -> str:
    """The plain bytes of a stored file (its storage key, or a preview's), decrypted as a moderator's download is,
    written to a temporary file whose path is returned: what the checks of a file's cleanliness read. A file stored
    in clear (before sealing) is copied as it is."""
    import tempfile

    from app.crypto import files
    from app.models import Attachment
    from app.uploads.stores import app_storage

    base, _, suffix = key.partition("-thumb")
    part = f"preview{suffix or 0}" if _ else "file"
    with app.app_context():
        attachment = db.session.scalar(db.select(Attachment).where(Attachment.storage_key == base))
        file_key = staff_opener().file_key(attachment, part) if attachment and attachment.file_key else None
        stored = app_storage().open(key)
        reader = files.decrypting(file_key, stored) if file_key else stored
        with reader, tempfile.NamedTemporaryFile(delete=False, suffix="-plain") as out:
            out.write(reader.read())
            return out.name
