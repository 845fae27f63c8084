"""Sessions that can open sealed data (AT-REST.md, "Unlocked sessions").

At the password step the staff secret key is opened with the password and closed again under a random key K_p that
only the sign-in's cookie holds: a PendingUnlock row, named by BLAKE2b(K_p), which unlocks nothing by itself. Once
the second factor is checked, app/sessions.py's start() turns it (or the password typed in that request) into an
UnlockedSession: the secret key under a random K_s that only the session's cookie holds, in a row named by
BLAKE2b(K_s). Any worker or server opens it with one indexed read; nothing is kept in a worker's memory, and no
server secret opens a cookie.

A row is deleted on sign-out and whenever the account's sessions end (app/staff.py bumps the session version and
calls revoke()), and is dead after the idle timeout or the absolute limit (purge() deletes it then).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, delete, select, update

from app.crypto import sodium
from app.extensions import db
from app.models import PendingUnlock, UnlockedSession, User, utcnow

# Within this many seconds of the last renewal, a request does not write the idle clock again.
RENEW_EVERY = 60


def _token() -> tuple[str, bytes, bytes]:
    """A random key for a cookie: (its text, the key, the digest that names its row)."""
    key = sodium.random_bytes()
    return base64.urlsafe_b64encode(key).decode(), key, _name(key)


def _name(key: bytes) -> bytes:
    return sodium.digest(key, person=b"prystan-unlock")


def _key(token: str | None) -> bytes | None:
    if not isinstance(token, str):
        return None
    try:
        key = base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError):
        return None
    return key if len(key) == sodium.KEY_BYTES else None


def pending(user: User, staff_secret: bytes, minutes: int) -> str:
    """Keep ``staff_secret`` for a sign-in waiting for its second factor; the token goes into its cookie only."""
    purge()
    token, key, name = _token()
    expires = utcnow() + timedelta(minutes=minutes)
    db.session.add(PendingUnlock(id=name, user_id=user.id, sealed=sodium.close(key, staff_secret), expires_at=expires))
    db.session.commit()
    return token


def take_pending(user: User, token: str | None) -> bytes | None:
    """The secret key a pending sign-in kept, once (its row goes); None if there is none, or it expired."""
    key = _key(token)
    if key is None:
        return None
    row = db.session.get(PendingUnlock, _name(key))
    if row is None or row.user_id != user.id:
        return None
    db.session.delete(row)
    if row.expires_at < utcnow():
        return None
    try:
        return sodium.open_(key, row.sealed)
    except sodium.Refused:
        return None


def open_session(user: User, staff_secret: bytes) -> str:
    """An unlocked session for ``user`` (signed in this moment); the token goes into its cookie only."""
    purge()
    config = current_app.config
    token, key, name = _token()
    now = utcnow()
    ends = now + timedelta(seconds=int(config["SESSION_MAX_AGE"]))
    db.session.add(
        UnlockedSession(
            id=name,
            user_id=user.id,
            session_version=user.session_version,
            sealed=sodium.close(key, staff_secret),
            idle_until=min(ends, now + timedelta(seconds=int(config["IDLE_TIMEOUT"]))),
            ends_at=ends,
        )
    )
    return token


def staff_secret(user: User, token: str | None) -> bytes | None:
    """The account's secret key, if this session's token opens a live row of it: one indexed read."""
    key = _key(token)
    if key is None:
        return None
    row = db.session.get(UnlockedSession, _name(key))
    if row is None or row.user_id != user.id or row.session_version != user.session_version:
        return None
    if _dead(row, utcnow()):
        return None
    try:
        return sodium.open_(key, row.sealed)
    except sodium.Refused:
        return None


def _dead(row: UnlockedSession, now: datetime) -> bool:
    return row.idle_until <= now or row.ends_at <= now


def touch(token: str | None) -> None:
    """A request of the person: the idle clock starts again (the caller writes it at most once a minute)."""
    key = _key(token)
    if key is None:
        return
    now = utcnow()
    idle = timedelta(seconds=int(current_app.config["IDLE_TIMEOUT"]))
    db.session.execute(
        update(UnlockedSession)
        .where(UnlockedSession.id == _name(key), UnlockedSession.idle_until > now)
        .values(idle_until=case((UnlockedSession.ends_at < now + idle, UnlockedSession.ends_at), else_=now + idle))
    )
    db.session.commit()


def end(token: str | None) -> None:
    """This session's row goes (a timeout)."""
    key = _key(token)
    if key is not None:
        db.session.execute(delete(UnlockedSession).where(UnlockedSession.id == _name(key)))
        db.session.commit()


def revoke(user_id: int | None) -> None:
    """Every unlocked and pending session of one account, or of every account (None), goes (the caller commits)."""
    for model in (UnlockedSession, PendingUnlock):
        statement = delete(model)
        if user_id is not None:
            statement = statement.where(model.user_id == user_id)
        db.session.execute(statement)


def purge() -> int:
    """Delete the rows that can no longer be used: timed out, or left by a sign-in that finished while its account's
    sessions were ended or it was disabled (called as rows are made, by staff requests at most once a minute, and
    by flask uploads gc and flask purge)."""
    now = utcnow()
    live = select(User.id).where(
        User.id == UnlockedSession.user_id, User.session_version == UnlockedSession.session_version, User.active
    )
    gone = db.session.execute(
        delete(UnlockedSession)
        .where((UnlockedSession.idle_until <= now) | (UnlockedSession.ends_at <= now) | ~live.exists())
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    gone += db.session.execute(delete(PendingUnlock).where(PendingUnlock.expires_at <= now)).rowcount  # type: ignore[attr-defined]
    return int(gone)


def sessions_of(user_id: int) -> int:
    """How many unlocked sessions the account has now (for tests and the admin page)."""
    return len(db.session.scalars(select(UnlockedSession.id).where(UnlockedSession.user_id == user_id)).all())
