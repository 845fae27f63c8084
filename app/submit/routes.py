"""The three public forms (information, contact, ad) and what every page of this area shares: the upload limits
shown in the forms, the proof of work's challenge, and the pages drawn again after an expired token or a limit.

The receipt's page is in status.py, its holder's actions in owner_actions.py, resumable uploads in tus.py."""

from flask import abort, current_app, jsonify, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError

from app import limits, proof, receipts
from app.crypto.receipts import Ahead, Busy
from app.models import Submission
from app.security import derive_key
from app.submissions.create import create, dedupe_digest, is_duplicate
from app.submit import bp, tus
from app.submit.forms import FORMS, StatusForm
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
    sending = sent(key)
    if refused := proof.refusal():  # before any file is opened: a flood without the puzzle costs no sandbox
        form.validate()
        form.form_errors.append(refused)
        if any(f and f.filename for f in sending.files):
            form.attachments.errors = [intake.message("choose_again")]
        return render_template(f"submit/{kind}.html", form=form, kept=formfiles.shown(sending)), 422
    receipt = Ahead(receipts.new_code())

    def digest() -> str:
        fields = form.fields_for_model()
        secret = derive_key(current_app.config["SECRET_KEY"], "dedupe")
        return dedupe_digest(kind, fields["telegram"], fields["body"], key=secret)

    # Sent again: stored once, its files not opened again. (Not when a file was removed: the form only comes back.)
    if not sending.remove and form.validate_on_submit() and is_duplicate(digest()):
        limits.taken()
        return render_template("submit/duplicate.html", kind=kind)

    def save(uploads):
        fields = form.fields_for_model() | {"unproved": proof.held(), "dedupe_digest": digest()}
        if is_duplicate(fields["dedupe_digest"]):  # (the same form sent twice at once)
            return None
        return create(kind, fields, locale=str(get_locale()), uploads=uploads, storage=app_storage(), receipt=receipt)

    def scrubbing():
        receipt.start()  # (the receipt is derived while the files are scrubbed)
        limits.scrubbing()

    # On the onion without the puzzle, a form that comes back for its fields costs no sandbox either (app/proof.py).
    taken = formfiles.take(
        sending, valid=form.validate_on_submit, save=save, scrubbing=scrubbing, keep_refused=not proof.held()
    )
    if taken.saved:
        limits.taken()
        proof.taken()
        return render_template("submit/receipt.html", receipt=receipts.display(taken.saved), kind=kind)
    if taken.declined:
        limits.taken()
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


@bp.errorhandler(CSRFError)
def csrf_failed(_error):
    """Re-show the form with everything typed, and explain why it was not sent."""
    notice = _(
        "Your form was not sent because its security token had expired or your browser did not "
        "send a cookie. Nothing you typed is lost: check it and send it again."
    )
    return rerender(notice), 400


@bp.errorhandler(RateLimitExceeded)
def rate_limited(error):
    """Keep the typed values when a limit is reached, and say when to try again (to a resumable upload, in its
    protocol's terms: the page's widget then sends the file with the form)."""
    notice = limits.notice(error) or _(
        "Too many attempts from your connection. Please wait a while and send the form again."
    )
    if (request.endpoint or "").startswith("submit.upload"):
        return tus.refuse(429, notice)
    return rerender(notice), 429


@bp.errorhandler(Busy)
def busy(_error):
    """Too many receipts were being derived at once on this machine: nothing was done. Keep what was typed, and
    ask to try again in a moment."""
    return rerender(_("The site is busy. Wait a moment and try again.")), 503


def rerender(notice: str):
    kind = (request.endpoint or "").removeprefix("submit.")
    if kind in FORMS:
        form = FORMS[kind](formdata=request.form)
        kept = formfiles.shown(sent(form_key()))
        return render_template(f"submit/{kind}.html", form=form, notice=notice, kept=kept)
    form = StatusForm(formdata=None, code=request.form.get("code", ""))
    return render_template("submit/status.html", form=form, notice=notice)
