from flask import current_app, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app import seclog
from app.audit import record
from app.auth import bp, factors, throttle
from app.auth import totp as codes
from app.auth.forms import EmptyForm, LoginForm, PasswordForm, TotpForm
from app.extensions import db, limiter
from app.models import User
from app.passwords import hash_password, verify
from app.redirects import local_path
from app.security import client_network, keyed_hash, no_store
from app.sessions import start


def login_failed(response) -> bool:
    return response.status_code == 422


def typed_account() -> str:
    return (request.form.get("username") or "").strip().lower()


def network() -> str:
    return client_network(request.remote_addr or "")


def account_address_key() -> str:
    """The hard limit counts one account from one address: a stranger's failures never block a colleague."""
    return keyed_hash("login-account-address", f"{typed_account()}\0{network()}")


def landing(user: User) -> str:
    if user.can("moderate"):
        return url_for("moderation.queue")
    if user.can("administer"):
        return url_for("admin.users")
    return url_for("public.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(
    lambda: current_app.config["LOGIN_RATELIMIT"],
    methods=["POST"],
    key_func=account_address_key,
    deduct_when=login_failed,
)
@limiter.limit(lambda: current_app.config["LOGIN_ADDRESS_RATELIMIT"], methods=["POST"], deduct_when=login_failed)
def login():
    """Sign a staff member in: password, and the app's code where one is set up."""
    form = LoginForm(next=request.args.get("next"))
    if session.pop("timed_out", False):
        flash(_("You were signed out after a period of inactivity. Please sign in again."))
    if form.is_submitted() and (seconds := throttle.wait(typed_account(), network())):
        seclog.event("sign_in_delayed", reason="account")
        form.form_errors.append(
            _(
                "Too many failed attempts for this account. Wait a moment and try again (%(seconds)d s).",
                seconds=seconds,
            )
        )
        return render_template("auth/login.html", form=form), 429
    if form.validate_on_submit():
        user = db.session.scalar(select(User).where(User.username == form.username.data.strip()))
        valid = verify(user.password_hash if user else None, form.password.data) and user.active
        if valid and user.totp_secret:
            valid = factors.second_factor(user, form.otp.data)
        if valid:
            target = (
                url_for("auth.password") if user.must_change_password else local_path(form.next.data) or landing(user)
            )
            session.clear()  # a fresh session at sign-in: nothing carried over from before
            login_user(user)
            start()
            record("signed_in", None, actor_id=user.id)
            db.session.commit()
            throttle.succeeded(typed_account(), network())
            seclog.event("sign_in", user=user.id, role=user.role)
            return redirect(target, code=303)
        reason = "unknown_account" if user is None else "inactive" if not user.active else "credentials"
        seclog.event("sign_in_failed", user=user.id if user else None, reason=reason)
        throttle.failed(typed_account())
        form.form_errors.append(_("Wrong username, password or code."))
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form), 422 if form.is_submitted() else 200


@bp.post("/logout")
@login_required
def logout():
    """End the session here and on the server."""
    if EmptyForm().validate_on_submit():
        current_user.session_version += 1
        db.session.commit()
        logout_user()
        session.clear()
    return redirect(url_for("public.home"), code=303)


def password_failed(response) -> bool:
    return response.status_code == 422


def user_key() -> str:
    return keyed_hash("password-change", str(current_user.get_id()))


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limiter.limit(
    lambda: current_app.config["PASSWORD_RATELIMIT"], methods=["POST"], key_func=user_key, deduct_when=password_failed
)
def password():
    """Change one's password; every other session of the account ends."""
    form = PasswordForm()
    if current_user.must_change_password and not form.is_submitted():
        flash(_("Your password was chosen by an administrator. Choose your own to continue."))
    if form.validate_on_submit():
        if verify(current_user.password_hash, form.current.data):
            current_user.password_hash = hash_password(form.new.data)
            current_user.must_change_password = False
            current_user.session_version += 1
            record("password_changed", None, actor_id=current_user.id)
            db.session.commit()
            session.clear()
            login_user(current_user)
            start()
            flash(_("Your password is changed. Other sessions of your account have ended."))
            return redirect(url_for("auth.password"), code=303)
        form.current.errors.append(_("This is not your current password."))
    return render_template("auth/password.html", form=form), 422 if form.errors else 200


@bp.route("/totp", methods=["GET", "POST"])
@login_required
@limiter.limit(
    lambda: current_app.config["PASSWORD_RATELIMIT"], methods=["POST"], key_func=user_key, deduct_when=password_failed
)
def totp():
    """Set up (or replace) an authenticator app: scan the QR code or type the key, confirm with a code and the
    password, and the current app's code when one is replaced. Recovery codes are shown once."""
    form = TotpForm()
    replacing = bool(current_user.totp_secret)
    if form.validate_on_submit():
        if not verify(current_user.password_hash, form.password.data):
            form.password.errors.append(_("This is not your current password."))
        elif replacing and not factors.second_factor(current_user, form.current.data):
            form.current.errors.append(
                _("This code is not right. Enter a code from the app you use now, or one of your recovery codes.")
            )
        elif (recovery := factors.enrol(current_user, form.code.data)) is None:
            form.code.errors.append(_("This code is not right. Check the time on your phone and try the newest code."))
        else:
            user = current_user._get_current_object()
            record("totp_replaced" if replacing else "totp_enabled", None, actor_id=user.id)
            db.session.commit()
            session.clear()  # a new session, with the new session version
            login_user(user)
            start()
            return no_store(make_response(render_template("auth/totp_done.html", recovery=recovery)))
        db.session.commit()  # a code of the current app, if typed right, is used up all the same
    secret = factors.pending_secret(current_user)
    qr = codes.qr_svg(secret, current_user.username)
    status = 422 if form.errors else 200
    return render_template("auth/totp.html", form=form, qr=qr, key=factors.spaced(secret), replacing=replacing), status
