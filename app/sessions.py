"""Staff sessions: starting and ending them, loading, timeouts, and the role guard every staff blueprint uses.

Every staff session starts in start(), every sign-out goes through sign_out() (tests/test_staff_door.py holds the
other modules to it). The id in the cookie carries the account's session version: bumping it (logout, password
change) ends every older session on the server.

A session is unlocked (AT-REST.md): start() opens the account's secret key with the password typed in the request,
or takes the one the password step kept for the key step (await_key()), and keeps it under a key that only this
cookie holds (app/crypto/unlocking.py). staff_key() gives it back to the request that needs it.
"""

import math
import time
from collections.abc import Callable

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_htmx.responses import HTMXResponseClientRedirect
from flask_login import current_user, login_user, logout_user
from werkzeug.wrappers import Response

from app import seclog, staff
from app.crypto import epochs, unlocking
from app.extensions import db, htmx
from app.models import User
from app.submissions import rekeys

# Sent by requests the page makes on its own (the queue's poll for new items): they never extend a session.
BACKGROUND_HEADER = "X-Prystan-Background"


def load_user(session_id: str) -> User | None:
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_version != int(version):
        return None
    return user


def start(user: User, password: str | None) -> None:
    """Start a staff session for ``user``, whose factors the caller has just checked: a fresh session, nothing
    carried over from before (an attacker's planted cookie included), with the clocks of its timeouts started, and
    unlocked. Called at sign-in, and after the account's own change of password, app or key (which ended its
    sessions).

    ``password`` is the one typed in this request: at sign-in, the password; after a change, the new password, or
    the one that confirmed the new app or key. None only after a sign-in's key step, which comes in a request of
    its own after the password's: the secret key that step kept (await_key()) is taken instead.
    """
    kept = (session.get("key_step") or {}).get("unlock")
    session.clear()
    login_user(user)
    session["auth_at"] = session["seen_at"] = time.time()
    secret = staff.open_key(user, password) if password is not None else unlocking.take_pending(user, kept)
    if secret is not None:
        session["unlock"] = unlocking.open_session(user, secret)
        session["unlock_until"] = session["seen_at"] + current_app.config["IDLE_TIMEOUT"]  # (the row's, or earlier)
    db.session.commit()


def await_key(user: User, password: str, wanted: str) -> None:
    """The password was right and the second factor is a key, checked in a request of its own (/auth/key): the
    account's secret key is kept for it, under a key in this cookie only, unlocking nothing until then."""
    from app.auth.keys import CHALLENGE_MINUTES

    secret = staff.open_key(user, password)
    unlock = unlocking.pending(user, secret, CHALLENGE_MINUTES) if secret is not None else None
    session["key_step"] = {"user": user.id, "version": user.session_version, "at": time.time(), "unlock": unlock}
    session["key_next"] = wanted


def staff_key() -> bytes | None:
    """The signed-in account's secret key, if this session is unlocked (None if not, or no longer)."""
    if not current_user.is_authenticated:
        return None
    if "staff_key" not in g:
        g.staff_key = unlocking.staff_secret(current_user, session.get("unlock"))
    key: bytes | None = g.staff_key
    return key


def sign_out(user: User) -> None:
    """End this session, here and on the server (with every other session of the account), its key with it."""
    staff.signed_out(user)
    logout_user()
    session.clear()


def enforce_timeouts() -> None:
    """Sign out after IDLE_TIMEOUT seconds without a request, or SESSION_MAX_AGE after sign-in.

    An unlocked session's row has an idle clock of its own, renewed at most once a minute (not a write on every
    request); the cookie keeps when the row runs out (``unlock_until``), and the session ends then if not before, so
    that it is never signed in yet locked. So a session ends up to a minute before IDLE_TIMEOUT has passed."""
    if not current_user.is_authenticated:
        return
    now = time.time()
    config = current_app.config
    idle_for = config["IDLE_TIMEOUT"]
    idle = now - session.get("seen_at", 0) > idle_for or now >= session.get("unlock_until", math.inf)
    too_old = now - session.get("auth_at", 0) > config["SESSION_MAX_AGE"]
    if idle or too_old:
        unlocking.end(session.get("unlock"))
        logout_user()
        session.clear()
        session["timed_out"] = True
        return
    clear_dead_keys(now)
    if request.headers.get(BACKGROUND_HEADER) != "1":  # a poll of an unattended screen is no sign of life
        session["seen_at"] = now
        renew_every = min(unlocking.RENEW_EVERY, idle_for / 2)
        if "unlock" in session and now + idle_for - session.get("unlock_until", 0) > renew_every:
            unlocking.touch(session["unlock"])  # (from a moment later than now: the row never ends before the cookie)
            session["unlock_until"] = now + idle_for


# When this worker last deleted the unlocked sessions that timed out (a staff request does it at most once a minute).
_cleared_at = 0.0


def clear_dead_keys(now: float) -> None:
    """Unlocked sessions past their timeout go from the database within a minute of it, whoever's request comes;
    not only at the next sign-in or the hourly flask uploads gc."""
    global _cleared_at
    if now - _cleared_at < unlocking.RENEW_EVERY:
        return
    _cleared_at = now
    if unlocking.purge():
        db.session.commit()
        staff.settle_keys()
    else:
        db.session.commit()


def keep_recovery_sealed() -> None:
    """A recovery key configured after some epochs began: the next request of an unlocked reader who holds them
    seals them to it (AT-REST.md). With no recovery key, this reads nothing from the database."""
    if current_user.can("moderate") and epochs.missing_recovery() and (key := staff_key()) is not None:
        epochs.seal_to_recovery(current_user, key)


def settle_receipts() -> None:
    """Receipts issued before sealing and used since wait for an unlocked reader to make their wraps
    (app/submissions/rekeys.py): any such reader's request makes those it can. One indexed read when none wait."""
    if current_user.can("moderate") and rekeys.waiting() and (key := staff_key()) is not None:
        rekeys.settle(current_user, key)


def redirect_to(target: str) -> Response:
    """A redirect that also works for htmx requests (HX-Redirect makes htmx load the whole page)."""
    if htmx:
        response: Response = HTMXResponseClientRedirect(target, status=401 if "login" in target else 200)
        return response
    return redirect(target)


def unauthorized() -> Response:
    """Send anyone not signed in to the sign-in page, and back here afterwards."""
    seclog.event("sign_in_required", endpoint=request.endpoint, method=request.method)
    path = request.full_path.rstrip("?") if request.method == "GET" and not htmx else None
    return redirect_to(url_for("auth.login", next=path))


def guard(permission: str) -> Callable[[], Response | None]:
    """Build a before_request check: signed in, second factor set up if required, and allowed."""

    def check() -> Response | None:
        if not current_user.is_authenticated:
            return unauthorized()
        if current_user.must_change_password:
            return redirect_to(url_for("auth.password"))
        if current_user.key_required and not staff.security_keys(current_user):
            return redirect_to(url_for("auth.security_keys"))
        if current_user.totp_required and not staff.has_second_factor(current_user):
            return redirect_to(url_for("auth.totp"))
        if not current_user.can(permission):
            seclog.event(
                "access_refused",
                user=current_user.id,
                role=current_user.role,
                endpoint=request.endpoint,
                method=request.method,
            )
            abort(403)
        keep_recovery_sealed()
        settle_receipts()
        return None

    return check
