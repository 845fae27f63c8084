"""Second factors: time-based codes (authenticator apps) that work once, and one-time recovery codes.

A code from the app is accepted in its own 30-second period and the one before and after it (clocks drift), so for
at most 90 seconds, and only once: the last period used is stored, and a code of that period or an earlier one is
refused. The check and the update are one version-checked UPDATE, so two sign-ins racing with one code cannot
both win. Recovery codes (10, given at enrolment, shown once) are stored as keyed hashes; each works once, in
place of the app's code, and is deleted when used.

The secret being enrolled is kept on the server (User.totp_pending), never taken from the form: a client cannot
choose its own secret, and replacing a working factor needs the password and a code from the current one.

This module checks codes; the account's factors and recovery codes are written by app/staff.py.
"""

from __future__ import annotations

import hmac
import re
import secrets
import time

import pyotp
from sqlalchemy import or_, update

from app import staff
from app.extensions import db
from app.models import User
from app.security import keyed_hash

STEP = 30
RECOVERY_COUNT = 10
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_DIGITS = re.compile(r"[0-9]{6}")  # ASCII digits: a bare \d takes other scripts' digits too


def normalized(typed: str | None) -> str:
    return re.sub(r"[\s-]", "", (typed or "")).lower()


def matching_step(secret: str, code: str, after: int | None, now: float | None = None) -> int | None:
    """The period whose code this is (this one, or one next to it), if it is later than ``after``."""
    if not _DIGITS.fullmatch(code):
        return None
    current = int((now or time.time()) // STEP)
    totp = pyotp.TOTP(secret)
    for step in (current - 1, current, current + 1):
        if (after is None or step > after) and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def use_code(user: User, typed: str | None) -> bool:
    """Accept a code from the app once: the period it belongs to becomes the last one used."""
    step = matching_step(user.totp_secret, normalized(typed), user.totp_last_step)
    if step is None:
        return False
    taken = db.session.execute(
        update(User)
        .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        return False  # another sign-in used this code a moment ago
    user.totp_last_step = step
    return True


def recovery_digest(code: str) -> str:
    return keyed_hash("recovery-code", normalized(code))


def use_recovery(user: User, typed: str | None) -> bool:
    """Accept a recovery code once: it is deleted as it is used."""
    code = normalized(typed)
    return len(code) == 10 and staff.use_recovery_code(user, recovery_digest(code))


def second_factor(user: User, typed: str | None) -> bool:
    """The app's code or a recovery code, each once."""
    return use_code(user, typed) if _DIGITS.fullmatch(normalized(typed)) else use_recovery(user, typed)


def pending_secret(user: User) -> str:
    """The secret being enrolled, made once and kept on the server until enrolment ends."""
    if not user.totp_pending:
        user.totp_pending = pyotp.random_base32()
        db.session.commit()
    return user.totp_pending


def enrol(user: User, step_code: str) -> list[str] | None:
    """Make the pending secret the account's factor if ``step_code`` comes from it; return new recovery codes.

    The caller has checked the password (and the current factor, when one is replaced). Other sessions end.
    """
    step = matching_step(user.totp_pending, normalized(step_code), None) if user.totp_pending else None
    if step is None:  # (a new secret has no used period yet: the old one's do not count against it)
        return None
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_COUNT)]
    staff.set_authenticator(user, user.totp_pending, step, [recovery_digest(code) for code in codes])
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def spaced(secret: str) -> str:
    """The key in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
