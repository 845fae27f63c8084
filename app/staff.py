"""Staff accounts: created and changed here only, by /admin/users and by the command line (`flask users …`)
alike. One password rule, an audit event for every change, and every change that matters ends the account's
sessions (its session version is bumped). Knows nothing of requests.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update

from app.audit import record
from app.extensions import db
from app.models import RecoveryCode, SecurityKey, User
from app.passwords import MIN_LENGTH, hash_password


class StaffError(ValueError):
    """A change that cannot be made; the message says why (for the command line; forms check first)."""


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
    db.session.add(user)
    db.session.flush()
    record("user_created", None, actor_id=by.id if by else None, detail=f"user {user.id} as {role}")
    db.session.commit()
    return user


def change(user: User, detail: str, *, by: User | None = None) -> None:
    """Record a change made to ``user`` and end its sessions."""
    user.session_version += 1
    record("user_changed", None, actor_id=by.id if by else None, detail=f"user {user.id}: {detail}")
    db.session.commit()


def set_password(user: User, password: str, *, by: User | None = None) -> None:
    check_password(password)
    user.password_hash = hash_password(password)
    user.must_change_password = by is not None
    change(user, "password reset", by=by)


def set_active(user: User, active: bool, *, by: User | None = None) -> None:
    user.active = active
    change(user, "enabled" if active else "disabled", by=by)


def set_role(user: User, role: str, *, by: User | None = None) -> None:
    if role not in User.ROLES:
        raise StaffError(f"Unknown role {role!r}.")
    user.role = role
    change(user, f"role {role}", by=by)


def reset_second_factor(user: User, *, by: User | None = None) -> None:
    """A lost phone or key: the authenticator, the recovery codes and the security keys go, and whoever holds the
    account's sessions is out."""
    user.totp_secret = user.totp_pending = user.totp_last_step = None
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    db.session.execute(delete(SecurityKey).where(SecurityKey.user_id == user.id))
    change(user, "totp reset", by=by)


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


def end_sessions(user: User | None, *, by: User | None = None) -> int:
    """End, now, every session of ``user``, or of every staff account (None): for a phone lost or seized, or a
    colleague detained. Each must sign in again; nothing else changes. Returns how many accounts."""
    statement = update(User).values(session_version=User.session_version + 1)
    if user is not None:
        statement = statement.where(User.id == user.id)
    ended = db.session.execute(statement.execution_options(synchronize_session=False)).rowcount
    detail = f"user {user.id}" if user is not None else "all staff"
    record("sessions_ended", None, actor_id=by.id if by else None, detail=detail)
    db.session.commit()
    return ended
