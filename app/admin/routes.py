from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import func, select

from app import audit as audit_log
from app import sessions, staff
from app.admin import bp
from app.admin.forms import AuditFilterForm, CreateUserForm, EndAllSessionsForm, GrantForm, RoleForm
from app.crypto import epochs
from app.extensions import db
from app.forms import EmptyForm
from app.models import SecurityKey, User, parse_id
from app.submissions import reads, reveals


@bp.route("/users", methods=["GET", "POST"])
def users():
    """List staff accounts and create new ones."""
    form = CreateUserForm()
    if form.validate_on_submit():
        user = staff.create(form.username.data, form.role.data, form.password.data, by=current_user)
        flash(_("Account %(name)s created.", name=user.username))
        return redirect(url_for("admin.users"), code=303)
    return users_page(form=form), 422 if form.errors else 200


def users_page(**forms) -> str:
    forms.setdefault("form", CreateUserForm(formdata=None))
    forms.setdefault("end_all_form", EndAllSessionsForm(formdata=None))
    accounts = db.session.scalars(select(User).order_by(User.username)).all()
    key_counts = dict(db.session.execute(select(SecurityKey.user_id, func.count()).group_by(SecurityKey.user_id)).all())
    return render_template(
        "admin/users.html",
        accounts=accounts,
        key_counts=key_counts,
        reveal_counts=reveals.seen_today_by_person(),
        reveal_limit=reveals.limit(),
        role_form=RoleForm,
        readers={reader.id for reader in epochs.readers() if staff.may_receive(reader)},
        keys=keys_status(),
        **forms,
    )


def keys_status() -> dict:
    """What the page says of the keys: whether this session can open sealed items, and the recovery key's state
    (recovery_key() records a configured key that differs from the one first used here, once for each key)."""
    epochs.recovery_key()
    db.session.commit()
    state, fingerprint = epochs.recovery_state()
    return {"unlocked": sessions.staff_key() is not None, "recovery": state, "fingerprint": fingerprint}


@bp.post("/users/<id:user_id>/end-sessions")
def end_sessions(user_id: int):
    """End every session of one account at once (its phone lost or seized): it must sign in again."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = db.get_or_404(User, user_id)
    own = user.id == current_user.id
    staff.end_sessions(user, by=current_user)
    if own:  # this session too
        return redirect(url_for("auth.login"), code=303)
    flash(_("Every session of %(name)s has ended.", name=user.username))
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/end-sessions")
def end_all_sessions():
    """End every staff session at once, this one included (a colleague detained, a phone seized)."""
    form = EndAllSessionsForm()
    if not form.validate_on_submit():
        return users_page(end_all_form=form), 422
    staff.end_sessions(None, by=current_user)
    return redirect(url_for("auth.login"), code=303)


def change_user(user_id: int, change, message: str):
    """Apply one change to another account (staff.py records it and ends its sessions)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = db.get_or_404(User, user_id)
    if user.id == current_user.id:  # admins cannot lock themselves out
        flash(_("You cannot change your own account here."))
        return redirect(url_for("admin.users"), code=303)
    try:
        change(user)
    except staff.LastReader:
        db.session.rollback()
        flash(
            _(
                "Nothing changed: %(name)s is the last moderator or admin who can read what is sent, and what is "
                "sent afterwards could not be read. Add another moderator or admin first, or configure a recovery "
                "key.",
                name=user.username,
            )
        )
        return redirect(url_for("admin.users"), code=303)
    flash(message % {"name": user.username})
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<id:user_id>/active")
def toggle_active(user_id: int):
    """Disable an account (its sessions end at once), or enable it again."""
    return change_user(
        user_id, lambda user: staff.set_active(user, not user.active, by=current_user), _("Account %(name)s updated.")
    )


@bp.post("/users/<id:user_id>/role")
def role(user_id: int):
    """Give an account another role."""
    form = RoleForm()

    def change(user):
        if form.role.data in User.ROLES:
            staff.set_role(user, form.role.data, by=current_user)

    return change_user(user_id, change, _("Role of %(name)s changed."))


@bp.post("/users/<id:user_id>/totp-reset")
def totp_reset(user_id: int):
    """Remove an account's authenticator and security keys (a lost phone or key); it must set one up again if
    required."""
    return change_user(
        user_id,
        lambda user: staff.reset_second_factor(user, by=current_user),
        _("Two-step sign-in of %(name)s was reset."),
    )


@bp.post("/users/<id:user_id>/key-required")
def key_required(user_id: int):
    """Require (or stop requiring) a security key: then codes from an app no longer sign the account in."""
    return change_user(
        user_id,
        lambda user: staff.set_key_required(user, not user.key_required, by=current_user),
        _("Security key setting of %(name)s changed."),
    )


@bp.post("/users/<id:user_id>/totp-required")
def totp_required(user_id: int):
    """Require (or stop requiring) two-step sign-in for an account."""
    return change_user(
        user_id,
        lambda user: staff.set_totp_required(user, not user.totp_required, by=current_user),
        _("Two-step sign-in setting of %(name)s changed."),
    )


@bp.route("/users/<id:user_id>/grant", methods=["GET", "POST"])
def grant(user_id: int):
    """Give an account the older periods this admin can read (all, or since a day), after a confirmation."""
    user = db.get_or_404(User, user_id)
    if user.id == current_user.id:
        flash(_("You already hold what you can give."))
        return redirect(url_for("admin.users"), code=303)
    if not staff.may_read(user):
        flash(_("%(name)s cannot be given older items: only an active moderator or admin can.", name=user.username))
        return redirect(url_for("admin.users"), code=303)
    if not staff.may_receive(user):
        flash(
            _(
                "%(name)s has not chosen their own password yet: give access after their first sign-in.",
                name=user.username,
            )
        )
        return redirect(url_for("admin.users"), code=303)
    form = GrantForm()
    secret = sessions.staff_key()
    if request.method == "GET" or secret is None or not form.validate_on_submit():
        status = 200 if request.method == "GET" else 422
        return render_template("admin/grant.html", user=user, form=form, unlocked=secret is not None), status
    given = staff.grant(user, form.start(), by=current_user, secret=secret)
    if given:
        flash(
            ngettext(
                "%(name)s was given %(num)d period.", "%(name)s was given %(num)d periods.", given, name=user.username
            )
        )
    else:
        flash(_("Nothing to give: %(name)s already holds every period you hold in that time.", name=user.username))
    return redirect(url_for("admin.users"), code=303)


@bp.get("/audit")
def audit():
    """Read the audit log, newest first, with filters."""
    form = AuditFilterForm(formdata=request.args)
    form.validate()
    filters = form.filters()
    events, more = audit_log.page(filters, before=request.args.get("before", type=parse_id))
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    found = reads.page(reads.Filters(filters.actor, filters.submission_id, filters.since, filters.until))
    context = {"reads": found, "reads_shown": reads.PAGE_SIZE}
    return render_template("admin/audit.html", form=form, events=events, more=more, args=args, **context)
