"""Staff accounts: created and changed here only, by /admin/users, the command line (`flask users …`), the demo
and the account's own pages (/auth/password, /auth/totp, /auth/keys) alike. One password rule, an audit event for
every change, and every change that matters ends the account's sessions (its session version is bumped). Knows
nothing of requests: the callers check what the person typed (a code, a key's answer), this module writes.

Only this module sets an account's password, role, active flag, session version, must-change flag, authenticator
secret, required factors, key pair, or makes or deletes its recovery codes and keys (tests/test_staff_door.py
reads the code to hold every other module to it).

The keys that seal data at rest (AT-REST.md) follow the account here: a key pair whenever a password is set (a
change of one's own password locks the same secret key under the new one; an admin's reset makes a new pair), a new
queue epoch whenever the set of people who may read changes (added, promoted, demoted, disabled, enabled, reset by
an admin), and every unlocked session revoked whenever the account's sessions end.

Why one module: it is the one door to an account's fields, keys included, and a second module would be a second
door for tests/test_staff_door.py to watch; what it calls to seal and open lives in app/crypto/.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.sql import Executable

from app import erasure
from app.audit import record
from app.crypto import epochs, staffkeys, unlocking
from app.extensions import db
from app.models import RecoveryCode, SecurityKey, User
from app.passwords import MIN_LENGTH, hash_password, verify

# Where an account's keys rest: what settle_keys() makes final after a revocation or a new pair.
KEY_TABLES = ("unlocked_sessions", "pending_unlocks", "epoch_wraps", "users")


class StaffError(ValueError):
    """A change that cannot be made; the message says why (for the command line; forms check first)."""


class LastReader(StaffError):
    """The change would leave no one who can read the queue, and no recovery key."""

    def __init__(self) -> None:
        super().__init__(
            "This is the last moderator or admin who can read what is sent: nothing sent from then on could be "
            "read. Add another moderator or admin first, or configure a recovery key."
        )


def check_password(password: str) -> None:
    if len(password or "") < MIN_LENGTH:
        raise StaffError(f"The password must have at least {MIN_LENGTH} characters.")


def find(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def create(username: str, role: str, password: str, *, by: User | None = None) -> User:
    """A new account. Made by an admin (``by``), it must choose its own password at its first sign-in: the admin
    knows this one. Made on the command line, by whoever runs the server, it need not."""
    if role not in User.ROLES:
        raise StaffError(f"Unknown role {role!r}.")
    if find(username):
        raise StaffError(f"User {username!r} already exists.")
    check_password(password)
    user = User(
        username=username, role=role, password_hash=hash_password(password), must_change_password=by is not None
    )
    user.public_key, user.locked_key = staffkeys.new_pair(password)
    db.session.add(user)
    db.session.flush()
    if may_read(user):
        epochs.rotate("added")
    record("user_created", None, actor_id=by.id if by else None, detail=f"user {user.id} as {role}")
    db.session.commit()
    return user


def may_read(user: User) -> bool:
    """Whether queue epochs are sealed to the account: an active moderator or admin with a key pair."""
    return user.active and user.role in epochs.READER_ROLES and user.public_key is not None


def may_receive(user: User) -> bool:
    """Whether older epochs may be given to the account: it may read, and its password is its own (an admin who
    chose a first password could otherwise sign in before its owner and read what was given)."""
    return may_read(user) and not user.must_change_password


def refuse_last_reader(user: User) -> None:
    """Raise LastReader if ``user`` is the last who may read and no recovery key is in use (checked under the
    epochs' lock, so that two admins disabling each other at once cannot both pass)."""
    epochs.lock()
    if may_read(user) and not any(other.id != user.id for other in epochs.readers()) and not epochs.recovery_key():
        raise LastReader()


def change(user: User, detail: str, *, by: User | None = None) -> None:
    """Record a change made to ``user`` and end its sessions."""
    user.session_version += 1
    unlocking.revoke(user.id)
    record("user_changed", None, actor_id=by.id if by else None, detail=f"user {user.id}: {detail}")
    db.session.commit()
    settle_keys()


def settle_keys() -> None:
    """Revoked keys, dropped wraps and a replaced locked key leave no copy the database could still give (SQLite's
    log checkpointed, PostgreSQL's tables vacuumed), as for a withdrawn submission."""
    erasure.settle(KEY_TABLES, texts=False)


def set_password(user: User, password: str, *, by: User | None = None) -> None:
    """A password set by an admin or on the command line: a new key pair (the old one is not known to this
    password), so the account reads only what arrives from now on until it is granted older epochs."""
    check_password(password)
    user.password_hash = hash_password(password)
    user.must_change_password = by is not None
    new_keys(user, password)
    change(user, "password reset", by=by)


def new_keys(user: User, password: str) -> None:
    """A new key pair for the account: what was sealed to the old one goes, and a new epoch begins if it reads."""
    epochs.lock()
    user.public_key, user.locked_key = staffkeys.new_pair(password)
    epochs.drop_wraps(user)
    db.session.flush()
    if may_read(user):
        epochs.rotate("new key pair")


def change_own_password(user: User, current: str, new: str) -> bool:
    """The account's own new password, if ``current`` is its password now (False, and nothing changes, if not).
    It need no longer change it; its other sessions end.

    The same secret key is locked under the new password; but a first password, which an admin chose and knows,
    gives way to a new pair (its epochs sealed over to it, and a new epoch), so that what the admin knew opens
    nothing that comes later."""
    if not verify(user.password_hash, current):
        return False
    check_password(new)
    secret = open_key(user, current)
    if secret is not None and not user.must_change_password:
        user.locked_key = staffkeys.lock(secret, new)
    elif secret is not None:
        rekey(user, secret, new)
    else:
        new_keys(user, new)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    own_change(user, "password_changed")
    return True


def rekey(user: User, secret: bytes, password: str) -> None:
    """A new pair for the account, holding every epoch the old one held; then a new epoch."""
    epochs.lock()
    opened = {epoch_id: epochs.open_epoch(user, secret, epoch_id) for epoch_id in epochs.held(user)}
    epochs.drop_wraps(user)
    user.public_key, user.locked_key = staffkeys.new_pair(password)
    db.session.flush()
    epochs.carry(user, {epoch_id: key for epoch_id, key in opened.items() if key is not None})
    if may_read(user):
        epochs.rotate("new key pair")


def open_key(user: User, password: str) -> bytes | None:
    """The account's secret key, opened with its password (checked by the caller): at sign-in and after a change.
    An account made before keys existed gets its pair here, from the password it just typed."""
    if user.locked_key is None:
        new_keys(user, password)
        db.session.commit()
    try:
        return staffkeys.unlock(cast("bytes", user.locked_key), password)
    except staffkeys.Refused:
        return None


def set_active(user: User, active: bool, *, by: User | None = None) -> None:
    """Disable an account (its wraps go, and a new epoch begins without it), or enable it again (a new epoch
    sealed to it as well). Disabling the last who may read is refused without a recovery key."""
    if not active:
        refuse_last_reader(user)
    was = may_read(user)
    user.active = active
    readers_changed(user, was)
    change(user, "enabled" if active else "disabled", by=by)


def set_role(user: User, role: str, *, by: User | None = None) -> None:
    if role not in User.ROLES:
        raise StaffError(f"Unknown role {role!r}.")
    if role not in epochs.READER_ROLES:
        refuse_last_reader(user)
    was = may_read(user)
    user.role = role
    readers_changed(user, was)
    change(user, f"role {role}", by=by)


def readers_changed(user: User, was: bool) -> None:
    """After a change of role or of the active flag: a new epoch if the account's right to read changed (without
    its wraps if it lost it)."""
    epochs.lock()
    now = may_read(user)
    if was and not now:
        epochs.drop_wraps(user)
    db.session.flush()
    if was != now:
        epochs.rotate("reader added" if now else "reader removed")


def grant(receiver: User, since: datetime | None, *, by: User, secret: bytes) -> int:
    """Seal to ``receiver`` the older epochs (all, or those current since ``since``) that ``by``, unlocked with
    ``secret``, holds. An audit event; returns how many epochs."""
    if not may_receive(receiver):
        raise StaffError("Only an active moderator or admin who chose their own password can be given older items.")
    given = epochs.grant(by, secret, receiver, since)
    detail = f"user {receiver.id}: {given} epochs" + (f" since {since:%Y-%m-%d %H:%M} UTC" if since else "")
    record("epochs_granted", None, actor_id=by.id, detail=detail)
    db.session.commit()
    return given


def reset_second_factor(user: User, *, by: User | None = None) -> None:
    """A lost phone or key: the authenticator, the recovery codes and the security keys go, and whoever holds the
    account's sessions is out."""
    user.totp_secret = user.totp_pending = user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(SecurityKey).where(SecurityKey.user_id == user.id))
    change(user, "totp reset", by=by)


def set_authenticator(user: User, secret: str, last_step: int, recovery_digests: list[str]) -> None:
    """The account's own authenticator app (the caller checked the password, a code of ``secret`` from the period
    ``last_step``, and the app it replaces, if any), with new recovery codes (their keyed hashes) in place of the
    old ones. Its other sessions end."""
    replacing = bool(user.totp_secret)
    user.totp_secret, user.totp_pending, user.totp_last_step = secret, None, last_step
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.add_all(RecoveryCode(user_id=user.id, digest=digest) for digest in recovery_digests)
    own_change(user, "totp_replaced" if replacing else "totp_enabled")


def use_recovery_code(user: User, digest: str) -> bool:
    """Spend the account's recovery code with this keyed hash, in place of the app's code: it is deleted as it is
    used (the caller commits with the sign-in). False if the account has no such code (or another request just
    spent it)."""
    return rows_changed(delete(RecoveryCode).where(RecoveryCode.user_id == user.id, RecoveryCode.digest == digest)) == 1


def add_security_key(
    user: User, *, name: str, credential_id: bytes, public_key: bytes, sign_count: int, rp_id: str
) -> SecurityKey:
    """Keep a key the account registered (the caller verified what its authenticator made, on address ``rp_id``).
    A new factor: its other sessions end."""
    key = SecurityKey(
        user_id=user.id,
        name=name,
        credential_id=credential_id,
        public_key=public_key,
        sign_count=sign_count,
        rp_id=rp_id,
    )
    db.session.add(key)
    own_change(user, "key_added")
    return key


def remove_security_key(user: User, key: SecurityKey) -> None:
    """Remove one of the account's own keys (the caller checked the password, and the key itself if it is the last
    factor). Its sessions go on: a factor fewer lets no one in who was not."""
    if key.user_id != user.id:
        raise StaffError("This key belongs to another account.")
    db.session.delete(key)
    record("key_removed", None, actor_id=user.id)
    db.session.commit()


def security_keys(user: User) -> list[SecurityKey]:
    """The account's passkeys and security keys, on every address, oldest first."""
    return list(db.session.scalars(select(SecurityKey).where(SecurityKey.user_id == user.id).order_by(SecurityKey.id)))


def has_second_factor(user: User) -> bool:
    """An authenticator app or a key."""
    return bool(user.totp_secret) or bool(security_keys(user))


def set_key_required(user: User, required: bool, *, by: User | None = None) -> None:
    """Only a security key signs the account in (phishing-proof); without one yet, it must register one first."""
    user.key_required = required
    change(user, "key required" if required else "key optional", by=by)


def set_totp_required(user: User, required: bool, *, by: User | None = None) -> None:
    user.totp_required = required
    change(user, "totp required" if required else "totp optional", by=by)


def own_change(user: User, action: str) -> None:
    """Record a change the account made to itself and end its sessions (the caller starts a new one)."""
    user.session_version += 1
    unlocking.revoke(user.id)
    record(action, None, actor_id=user.id)
    db.session.commit()
    settle_keys()


def signed_out(user: User) -> None:
    """The account signed out: the session it left ends on the server, with every other one of the account."""
    user.session_version += 1
    unlocking.revoke(user.id)
    db.session.commit()
    settle_keys()


def end_sessions(user: User | None, *, by: User | None = None) -> int:
    """End, now, every session of ``user``, or of every staff account (None): for a phone lost or seized, or a
    colleague detained. Each must sign in again; nothing else changes. Returns how many accounts."""
    statement = update(User).values(session_version=User.session_version + 1)
    if user is not None:
        statement = statement.where(User.id == user.id)
    ended = rows_changed(statement.execution_options(synchronize_session=False))
    unlocking.revoke(user.id if user is not None else None)
    detail = f"user {user.id}" if user is not None else "all staff"
    record("sessions_ended", None, actor_id=by.id if by else None, detail=detail)
    db.session.commit()
    settle_keys()
    return ended


def rows_changed(statement: Executable) -> int:
    """How many rows an UPDATE or a DELETE changed."""
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount
