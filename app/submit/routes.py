import tempfile
from contextlib import contextmanager

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
from app.uploads import intake, resumable, sandbox
from app.uploads.stores import app_storage, resumable_store


def submit(kind: str, **defaults):
    """Validate a public form and its files; on success store it and show the receipt once. Files already received
    (resumable uploads, or the files of a refused form) come back with the form and are not asked for again."""
    key = form_key(create=True)
    form = FORMS[kind](**defaults)
    kept, missing = kept_uploads(key)
    if form.is_submitted() and (removed := request.form.get("remove_upload")):
        kept = forget_upload(key, kept, removed)
        return render_template(f"submit/{kind}.html", form=form, kept=described(key, kept))
    valid = form.validate_on_submit()
    if missing:  # a form never goes without a file it names
        valid = False
    if form.is_submitted() and (unproved := proof.missing()):
        form.form_errors.append(unproved)
        valid = False
    if valid:
        fields = form.fields_for_model()
        fields["dedupe_digest"] = dedupe_digest(
            kind, fields["telegram"], fields["body"], key=derive_key(current_app.config["SECRET_KEY"], "dedupe")
        )
        if is_duplicate(fields["dedupe_digest"]):
            return render_template("submit/duplicate.html", kind=kind)
        try:
            code = accept(kind, fields, key, kept)
        except Unsent as unsent:
            form.attachments.errors = unsent.messages
            kept += unsent.kept
        else:
            proof.taken()
            return render_template("submit/receipt.html", receipt=receipts.display(code), kind=kind)
    elif form.is_submitted():
        more, problems = keep_sent_files(key, kept)
        kept += more
        form.attachments.errors = missing + problems
    keep_an_hour(kept)
    context = {"form": form, "kept": described(key, kept)}
    return render_template(f"submit/{kind}.html", **context), 422 if form.is_submitted() else 200


class Unsent(Exception):
    """The form's files could not all be taken: ``messages`` say why, ``kept`` are the ones kept for next time."""

    def __init__(self, messages: list[str], kept: list[resumable.PendingUpload]):
        super().__init__("unsent")
        self.messages, self.kept = messages, kept


def accept(kind: str, fields: dict, key: bytes | None, kept: list[resumable.PendingUpload]) -> str:
    """Store the submission with all its files together; the files received before are then gone from the store."""
    with form_files(key, kept) as uploads:
        code = create(
            kind, fields, locale=str(get_locale()), receipt_key=receipt_key(), uploads=uploads, storage=app_storage()
        )
    for upload in kept:
        resumable_store().delete(upload)
    return code


@contextmanager
def form_files(key: bytes | None, kept: list[resumable.PendingUpload]):
    """Every file of a form, clean, in a private work folder (gone afterwards): those received before (``kept``)
    and those sent with it now, checked and scrubbed together. If one is refused, raises Unsent, keeping the good
    ones of this request for the corrected form."""
    config, store = current_app.config, resumable_store()
    with work_folder() as workdir:
        ready = [store.open_clean(key, upload, workdir) for upload in kept]
        files = request.files.getlist("attachments")
        fresh, problems = intake.check(files, intake.limits_from(config), workdir, already=ready)
        cleaned, failed = intake.rebuild(fresh, sandbox.settings_from(config), workdir)
        if problems or failed:
            kept, not_kept = keep_files(key, cleaned)
            raise Unsent(problems + failed + not_kept, kept)
        yield ready + cleaned


def keep_sent_files(
    key: bytes | None, kept: list[resumable.PendingUpload]
) -> tuple[list[resumable.PendingUpload], list[str]]:
    """A form came back with an error: scrub the files it carried and keep them, encrypted, for this form session
    (an hour), so that the person does not choose them again. Returns the kept ones and what was refused."""
    files = [f for f in request.files.getlist("attachments") if f and f.filename]
    if not files or key is None:
        return [], []
    config = current_app.config
    with work_folder() as workdir:
        before = [intake.Received("", u.clean["type"], "", u.clean["size"], u.clean["sha256"]) for u in kept]
        fresh, problems = intake.check(files, intake.limits_from(config), workdir, already=before)
        cleaned, failed = intake.rebuild(fresh, sandbox.settings_from(config), workdir)
        more, not_kept = keep_files(key, cleaned)
        return more, problems + failed + not_kept


def keep_files(key: bytes | None, cleaned: list[intake.Received]) -> tuple[list[resumable.PendingUpload], list[str]]:
    """Keep a refused form's clean files for its next try, each within the store's budget and the client's share,
    as a file sent ahead would be: one that does not fit is not kept, and the form says so (choose it again)."""
    store, kept, not_kept = resumable_store(), [], []
    for received in cleaned if key else []:
        try:
            kept.append(store.keep(key, received, quota=tus.quota()))
        except resumable.Full:
            not_kept.append(intake.message("not_kept", name=received.name))
    return kept, not_kept


def kept_uploads(key: bytes | None) -> tuple[list[resumable.PendingUpload], list[str]]:
    """The files received before that this form names (its `uploads` field) and that are this session's; and
    what is wrong with each it names that it cannot send (gone, refused, not arrived whole)."""
    store, found, missing = resumable_store(), [], []
    for upload_id in dict.fromkeys(i.strip() for v in request.form.getlist("uploads") for i in v.split(",")):
        upload = store.get(key, upload_id) if key and upload_id else None
        if upload is not None and upload.state == "clean":
            found.append(upload)
        elif upload is not None and upload.state == "refused":
            missing += [intake.Refusal(code, limit).message(upload.name(key)) for code, limit in upload.refusals]
        elif upload is not None:
            missing.append(intake.message("incomplete", name=upload.name(key)))
        elif upload_id:
            missing.append(intake.message("gone"))
    return found[: intake.limits_from(current_app.config).files], list(dict.fromkeys(missing))


def forget_upload(key: bytes, kept: list[resumable.PendingUpload], upload_id: str) -> list[resumable.PendingUpload]:
    """The person removed a file received before: it is deleted at once."""
    for upload in kept:
        if upload.id == upload_id:
            resumable_store().delete(upload)
    return [u for u in kept if u.id != upload_id]


def keep_an_hour(kept: list[resumable.PendingUpload]) -> None:
    """The form comes back: what it carries is kept an hour from now, as the page says (never past its form's
    four hours: resumable.Store.renew)."""
    for upload in kept:
        resumable_store().renew(upload)


def described(key: bytes | None, kept: list[resumable.PendingUpload]) -> list[dict]:
    return [{"id": u.id, "name": u.name(key), "size": u.clean["size"]} for u in kept]


@contextmanager
def work_folder():
    """A private folder in RAM for one request's files, gone afterwards whatever happens."""
    workdir = tempfile.mkdtemp(dir=current_app.config["UPLOAD_WORKDIR"])
    try:
        yield workdir
    finally:
        intake.discard(workdir)


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
    kept, missing = kept_uploads(key)
    if (removed := request.form.get("remove_upload")) is not None:
        kept = forget_upload(key, kept, removed)
        return status_page(form, submission, reply_form=reply_form, kept=described(key, kept))
    if reply_form.validate() and not missing:
        try:
            with form_files(key, kept) as uploads:
                threads.answer(submission, reply_form.reply.data, uploads=uploads, storage=app_storage())
        except Unsent as unsent:
            reply_form.attachments.errors = unsent.messages
            kept += unsent.kept
        else:
            for upload in kept:
                resumable_store().delete(upload)
            notice = _("Your answer is sent. Our team will read it; check this page again later for more.")
            return status_page(form, submission, notice=notice)
    else:
        more, problems = keep_sent_files(key, kept)
        kept += more
        reply_form.attachments.errors = missing + problems
    keep_an_hour(kept)
    return status_page(form, submission, reply_form=reply_form, kept=described(key, kept)), 422


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
        key = form_key()
        kept = described(key, kept_uploads(key)[0])
        return render_template(f"submit/{kind}.html", form=form, notice=notice, kept=kept)
    form = StatusForm(formdata=None, code=request.form.get("code", ""))
    return render_template("submit/status.html", form=form, notice=notice)
