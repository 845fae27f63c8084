from flask import abort, current_app, jsonify, render_template, request
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError

from app import limits, proof, receipts
from app.models import Submission
from app.security import derive_key, receipt_key
from app.submissions import owner, threads
from app.submissions.create import create, dedupe_digest, find, is_duplicate
from app.submit import bp, tus
from app.submit.forms import FORMS, AdEditForm, AdOwnerForm, ReplyForm, StatusForm, WithdrawForm
from app.submit.tus import form_key
from app.uploads import formfiles, intake
from app.uploads.stores import app_storage


def submit(kind: str, **defaults):
    """Validate a public form and its files; on success store it and show the receipt once. Files already received
    (resumable uploads, or the files of a refused form) come back with the form and are not asked for again."""
    key = form_key(create=True)
    form = FORMS[kind](**defaults)
    if not form.is_submitted():
        return render_template(f"submit/{kind}.html", form=form, kept=[])

    def valid() -> bool:
        ok = form.validate_on_submit()
        if unproved := proof.missing():
            form.form_errors.append(unproved)
            ok = False
        return ok

    def save(uploads):
        fields = form.fields_for_model()
        fields["dedupe_digest"] = dedupe_digest(
            kind, fields["telegram"], fields["body"], key=derive_key(current_app.config["SECRET_KEY"], "dedupe")
        )
        if is_duplicate(fields["dedupe_digest"]):
            return None
        return create(
            kind, fields, locale=str(get_locale()), receipt_key=receipt_key(), uploads=uploads, storage=app_storage()
        )

    taken = formfiles.take(sent(key), valid=valid, save=save)
    if taken.saved:
        proof.taken()
        return render_template("submit/receipt.html", receipt=receipts.display(taken.saved), kind=kind)
    if taken.declined:
        return render_template("submit/duplicate.html", kind=kind)
    form.attachments.errors = taken.messages
    page = render_template(f"submit/{kind}.html", form=form, kept=taken.kept)
    return page, 200 if taken.removed else 422


def sent(key: bytes | None) -> formfiles.Sent:
    """What this request's form carried of its files."""
    return formfiles.Sent(
        key,
        tus.quota,
        files=request.files.getlist("attachments"),
        named=request.form.getlist("uploads"),
        remove=request.form.get("remove_upload") or "",
    )


@bp.context_processor
def upload_limits():
    config = current_app.config
    limits = intake.limits_from(config)
    return {"upload": limits, "upload_accept": limits.accept(), "upload_types": limits.browser_types()}


@bp.route("/submit/information", methods=["GET", "POST"])
@limits.submission_limits
def information():
    """Take a tip or report."""
    return submit("information")


@bp.route("/submit/contact", methods=["GET", "POST"])
@limits.submission_limits
def contact():
    """Take an offer of help; ?purpose=job preselects the job offer."""
    purpose = request.args.get("purpose")
    return submit("contact", purpose=purpose if purpose in Submission.PURPOSES else "")


@bp.route("/submit/ad", methods=["GET", "POST"])
@limits.submission_limits
def ad():
    """Take a classified ad for moderation."""
    return submit("ad")


@bp.get("/pow/challenge")
@limits.pow_challenge_limit
def pow_challenge():
    """A fresh signed challenge for the form's proof of work."""
    if not current_app.config["POW_ENABLED"]:
        abort(404)
    return jsonify(proof.challenge())


@bp.route("/status", methods=["GET", "POST"])
@limits.receipt_limits
def status():
    """Show a submission's status to whoever holds its receipt code."""
    form = StatusForm()
    submission = None
    if form.validate_on_submit():
        submission = find(form.code.data, receipt_key=receipt_key())
        if submission is None:
            limits.miss_receipt()
            form.code.errors.append(not_found_message())
    return status_page(form, submission)


def status_page(form, submission, notice=None, **forms):
    code = {"code": form.code.data, "formdata": None}
    forms.setdefault("withdraw_form", WithdrawForm(**code))
    forms.setdefault("owner_form", AdOwnerForm(**code))
    forms.setdefault("reply_form", ReplyForm(**code))
    if submission is not None and submission.owner_may_edit and "edit_form" not in forms:
        forms["edit_form"] = AdEditForm(obj=submission, **code)
    context = {}
    if submission is not None:
        context = {
            "can_answer": threads.can_answer(submission),
            "can_edit": submission.owner_may_edit,
            "expires_soon": owner.expires_soon(submission),
        }
        if context["can_answer"]:
            form_key(create=True)  # the answer's files may be sent ahead, resumably (tus.py)
    return render_template("submit/status.html", form=form, submission=submission, notice=notice, **context, **forms)


def opened(code: str | None):
    """What a receipt code opens, and the status form that shows it again (the item is None for a wrong code)."""
    return find(code or "", receipt_key=receipt_key()), StatusForm(formdata=None, code=code or "")


def not_found(code_text: str, **forms):
    """One answer for every code that matches nothing, whatever the item would have held (messages too)."""
    limits.miss_receipt()
    form = StatusForm(formdata=None, code=code_text or "")
    form.code.errors = [not_found_message()]
    return render_template("submit/status.html", form=form, **forms), 422


@bp.post("/status/reply")
@limits.owner_writes
def reply():
    """The submitter answers a staff message, with files if they like (sent with the answer, or before it)."""
    reply_form = ReplyForm()
    submission, form = opened(reply_form.code.data)
    if submission is None:
        return not_found(reply_form.code.data)
    if not threads.can_answer(submission):
        return status_page(form, submission, notice=_("This conversation is closed: there is nothing to answer.")), 409
    key = form_key(create=True)

    def save(uploads):
        threads.answer(submission, reply_form.reply.data, uploads=uploads, storage=app_storage())
        return True

    taken = formfiles.take(sent(key), valid=reply_form.validate, save=save)
    if taken.saved:
        notice = _("Your answer is sent. Our team will read it; check this page again later for more.")
        return status_page(form, submission, notice=notice)
    reply_form.attachments.errors = taken.messages
    page = status_page(form, submission, reply_form=reply_form, kept=taken.kept)
    return page, 200 if taken.removed else 422


@bp.post("/status/edit")
@limits.owner_writes
def edit():
    """The ad's owner changes it: it leaves the site and waits for a moderator again."""
    edit_form = AdEditForm()
    submission, form = opened(edit_form.code.data)
    if submission is None:
        return not_found(edit_form.code.data)
    if not submission.owner_may_edit:
        return status_page(form, submission, notice=_("This ad can no longer be changed.")), 409
    if not edit_form.validate():
        return status_page(form, submission, edit_form=edit_form), 422
    changed = owner.edit(submission, edit_form.text())
    if changed is False:
        return status_page(form, submission, notice=_("This ad can no longer be changed.")), 409
    if changed is None:
        return status_page(form, submission, notice=_("Nothing was changed."), edit_form=edit_form), 422
    notice = _("Your changes are sent. A moderator will review the ad again; until then it is not shown on the site.")
    return status_page(form, submission, notice=notice)


@bp.post("/status/renew")
@limits.receipt_limits
def renew():
    """The ad's owner keeps it up for another period."""
    return owner_action(owner.renew)


@bp.post("/status/close")
@limits.receipt_limits
def close():
    """The ad's owner takes it off the site (it found a taker, say)."""
    return owner_action(owner.close)


def owner_action(action):
    owner_form = AdOwnerForm()
    submission, form = opened(owner_form.code.data)
    if submission is None:
        return not_found(owner_form.code.data)
    if not owner_form.validate():  # (a form with nothing but the code: only a missing CSRF token fails here)
        return status_page(form, submission), 422
    if not action(submission):
        return status_page(form, submission, notice=_("This ad can no longer be changed.")), 409
    if submission.closed_at:
        notice = _("Your ad is closed and no longer shown on the site.")
    else:
        notice = _("Your ad stays on the site until %(date)s.", date=format_date(submission.expires_at, "long"))
    return status_page(form, submission, notice=notice)


@bp.post("/status/withdraw")
@limits.receipt_limits
def withdraw():
    """Delete a submission for good, files included, after the submitter confirms."""
    withdraw_form = WithdrawForm()
    submission, form = opened(withdraw_form.code.data)
    if submission is None:
        return not_found(withdraw_form.code.data, withdraw_form=withdraw_form)
    if not withdraw_form.validate():
        return status_page(form, submission, withdraw_form=withdraw_form), 422
    owner.withdraw(submission, app_storage())
    return render_template("submit/status.html", form=StatusForm(formdata=None), withdrawn=True)


def not_found_message() -> str:
    # One answer for every code that matches nothing: it tells nothing about other people's codes.
    return _("No submission matches this code. Check the digits and try again.")


@bp.errorhandler(CSRFError)
def csrf_failed(_error):
    """Re-show the form with everything typed, and explain why it was not sent."""
    notice = _(
        "Your form was not sent because its security token had expired or your browser did not "
        "send a cookie. Nothing you typed is lost: check it and send it again."
    )
    return rerender(notice), 400


@bp.errorhandler(RateLimitExceeded)
def rate_limited(_error):
    """Keep the typed values when a limit is reached, and say when to try again (to a resumable upload, in its
    protocol's terms: the page's widget then sends the file with the form)."""
    notice = _("Too many attempts from your connection. Please wait a while and send the form again.")
    if (request.endpoint or "").startswith("submit.upload"):
        return tus.refuse(429, notice)
    return rerender(notice), 429


def rerender(notice: str):
    kind = (request.endpoint or "").removeprefix("submit.")
    if kind in FORMS:
        form = FORMS[kind](formdata=request.form)
        kept = formfiles.shown(sent(form_key()))
        return render_template(f"submit/{kind}.html", form=form, notice=notice, kept=kept)
    form = StatusForm(formdata=None, code=request.form.get("code", ""))
    return render_template("submit/status.html", form=form, notice=notice)
