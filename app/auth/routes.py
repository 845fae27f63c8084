import time

from flask import abort, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from app import limits, seclog, sessions, staff
from app.audit import record
from app.auth import bp, factors, keys, throttle
from app.auth import totp as codes
from app.auth.forms import AddKeyForm, EmptyForm, KeySignInForm, LoginForm, PasswordForm, RemoveKeyForm, TotpForm
from app.extensions import db
from app.models import User
from app.passwords import verify
from app.redirects import local_path
from app.security import no_store


def landing(user: User) -> str:
    if user.can("moderate"):
        return url_for("moderation.queue")
    if user.can("administer"):
        return url_for("admin.users")
    return url_for("public.home")


@bp.route("/login", methods=["GET", "POST"])
@limits.login_limits
def login():
    """Sign a staff member in: password, and the app's code where one is set up."""
    form = LoginForm(next=request.args.get("next"))
    if session.pop("timed_out", False):
        flash(_("You were signed out after a period of inactivity. Please sign in again."))
    if form.is_submitted() and (seconds := throttle.wait(limits.typed_account(), limits.network())):
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
        target = form.next.data
        if valid and (step := second_step(user, form)) is not None:
            return step
        if valid and user.totp_secret:
            valid = factors.second_factor(user, form.otp.data)
        elif valid and keys.registered(user):
            valid = False  # keys on another address only: this one cannot check them
        if valid:
            return signed_in(user, target, form.password.data)
        reason = "unknown_account" if user is None else "inactive" if not user.active else "credentials"
        seclog.event("sign_in_failed", user=user.id if user else None, reason=reason)
        throttle.failed(limits.typed_account())
        form.form_errors.append(_("Wrong username, password or code."))
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form), 422 if form.is_submitted() else 200


def second_step(user: User, form: LoginForm):
    """After the right password: the step a security key needs (its own page), where the key is the factor: the
    account has a key for this address and requires one, has no app, or was given no code. None: go on with the
    code, if any."""
    here = keys.here(user)
    if not here:
        if user.key_required and keys.registered(user):
            return refused_here(form)
        return None
    if user.key_required or not user.totp_secret or not (form.otp.data or "").strip():
        sessions.await_key(user, form.password.data, form.next.data or "")
        return redirect(url_for("auth.key"), code=303)
    return None


def refused_here(form: LoginForm):
    form.form_errors.append(
        _(
            "This account signs in with a security key, and none is registered on this address. "
            "Sign in on the address where you registered your key."
        )
    )
    return render_template("auth/login.html", form=form), 422


def signed_in(user: User, wanted: str | None, password: str | None):
    """Both factors checked: a fresh session, and on to where the person was going."""
    target = url_for("auth.password") if user.must_change_password else local_path(wanted) or landing(user)
    sessions.start(user, password)
    record("signed_in", None, actor_id=user.id)
    db.session.commit()
    throttle.succeeded(user.username.lower(), limits.network())
    seclog.event("sign_in", user=user.id, role=user.role)
    return redirect(target, code=303)


def pending_key_user() -> User | None:
    """The account whose password was right a moment ago, waiting for its key."""
    step = session.get("key_step") or {}
    if not step or time.time() - step.get("at", 0) > keys.CHALLENGE_MINUTES * 60:
        return None
    user = db.session.get(User, step.get("user"))
    if user is None or not user.active or user.session_version != step.get("version"):
        return None
    return user


@bp.route("/key", methods=["GET", "POST"])
@limits.key_step_limit
def key():
    """The second step of a sign-in with a security key: the browser asks the key to sign the server's challenge."""
    user = pending_key_user()
    if user is None:
        session.pop("key_step", None)
        return redirect(url_for("auth.login"), code=303)
    form = KeySignInForm()
    if form.validate_on_submit():
        challenge = keys.take_challenge(user)
        if challenge and keys.authenticate(user, form.assertion.data or "", challenge):
            g.key_signed_in = True
            return signed_in(user, session.get("key_next"), None)  # (the password came in the step before)
        seclog.event("sign_in_failed", user=user.id, reason="key")
        throttle.failed(user.username.lower())
        form.form_errors.append(_("The key was not accepted. Try again, or use another of your keys."))
    options = keys.authentication_options(user, keys.new_challenge(user))
    can_use_code = bool(user.totp_secret) and not user.key_required
    page = render_template("auth/key.html", form=form, options=options, code=can_use_code)
    return no_store(make_response(page, 422 if form.form_errors else 200))


@bp.post("/logout")
@login_required
def logout():
    """End the session here and on the server."""
    if EmptyForm().validate_on_submit():
        sessions.sign_out(current_user._get_current_object())
    return redirect(url_for("public.home"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@login_required
@limits.password_checks
def password():
    """Change one's password; every other session of the account ends."""
    form = PasswordForm()
    if current_user.must_change_password and not form.is_submitted():
        flash(_("Your password was chosen by an administrator. Choose your own to continue."))
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if staff.change_own_password(user, form.current.data, form.new.data):
            sessions.start(user, form.new.data)
            flash(_("Your password is changed. Other sessions of your account have ended."))
            return redirect(url_for("auth.password"), code=303)
        form.current.errors.append(_("This is not your current password."))
    return render_template("auth/password.html", form=form), 422 if form.errors else 200


@bp.route("/totp", methods=["GET", "POST"])
@login_required
@limits.password_checks
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
            sessions.start(current_user._get_current_object(), form.password.data)  # (with the new session version)
            return no_store(make_response(render_template("auth/totp_done.html", recovery=recovery)))
        db.session.commit()  # a code of the current app, if typed right, is used up all the same
    secret = factors.pending_secret(current_user)
    qr = codes.qr_svg(secret, current_user.username)
    status = 422 if form.errors else 200
    return render_template("auth/totp.html", form=form, qr=qr, key=factors.spaced(secret), replacing=replacing), status


@bp.route("/keys", methods=["GET", "POST"])
@login_required
@limits.password_checks
def security_keys():
    """The account's passkeys and security keys: add one (the password, and a working factor if there is one),
    see where each works, remove one."""
    user = current_user._get_current_object()
    form = AddKeyForm()
    if form.validate_on_submit():
        challenge = keys.take_challenge(user)
        if not verify(user.password_hash, form.password.data):
            form.password.errors.append(_("This is not your current password."))
        elif user.totp_secret and not factors.second_factor(user, form.current.data):
            form.current.errors.append(_("This code is not right. Enter a code from your app, or a recovery code."))
        elif (
            not user.totp_secret
            and keys.registered(user)
            and not (challenge and keys.authenticate(user, form.assertion.data or "", challenge))
        ):
            form.form_errors.append(_("Confirm with one of your keys on this address first."))
        elif not challenge or not (key := keys.register(user, form.name.data, form.credential.data or "", challenge)):
            form.form_errors.append(_("The new key was not registered. Try again."))
        else:  # (a new factor: every other session has ended)
            sessions.start(user, form.password.data)
            flash(_("The key “%(name)s” is added. Your other sessions have ended.", name=key.name))
            return redirect(url_for("auth.security_keys"), code=303)
        db.session.commit()  # (a code of the app, if typed right, is used up all the same)
    return keys_page(user, form)


@bp.post("/keys/<id:key_id>/remove")
@login_required
@limits.password_checks
def remove_key(key_id: int):
    """Remove one key. The password always; for the account's last factor, the key itself as well."""
    user = current_user._get_current_object()
    key = next((k for k in keys.registered(user) if k.id == key_id), None)
    if key is None:
        abort(404)
    form = RemoveKeyForm(prefix=f"key{key.id}-")
    if form.validate_on_submit():
        # The last key is the last factor without an app, and always where a key is required (its app's codes
        # must not be a way back to signing in without one).
        last = len(keys.registered(user)) == 1 and (user.key_required or not user.totp_secret)
        challenge = keys.take_challenge(user) if last else None
        if not verify(user.password_hash, form.password.data):
            form.password.errors.append(_("This is not your current password."))
        elif last and not (challenge and keys.authenticate(user, form.assertion.data or "", challenge, [key])):
            form.form_errors.append(_("This is your last second factor: confirm with the key itself to remove it."))
        else:
            staff.remove_security_key(user, key)
            flash(_("The key “%(name)s” is removed.", name=key.name))
            return redirect(url_for("auth.security_keys"), code=303)
    return keys_page(user, AddKeyForm(formdata=None), removing=(key.id, form))


def keys_page(user: User, form: AddKeyForm, removing: tuple | None = None):
    """The keys page, with a fresh challenge for whichever of its forms is sent next."""
    challenge = keys.new_challenge(user)
    registered = keys.registered(user)
    here = keys.here(user)
    last = registered[0].id if len(registered) == 1 and (user.key_required or not user.totp_secret) else None
    context = {
        "form": form,
        "registered": registered,
        "rp_id": keys.relying_party()[0],
        "create_options": keys.registration_options(user, challenge),
        # Adding a key to an account whose only factors are keys: one of them confirms it first.
        "confirm_options": keys.authentication_options(user, challenge) if here and not user.totp_secret else None,
        "last_options": keys.authentication_options(user, challenge, registered) if last else None,
        "last": last,
        "removing": removing,
        "remove_form": RemoveKeyForm,
    }
    failed = form.errors or form.form_errors or (removing and (removing[1].errors or removing[1].form_errors))
    return no_store(make_response(render_template("auth/keys.html", **context), 422 if failed else 200))
