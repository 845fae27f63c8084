"""What a receipt's holder does at /status: answer the staff (with files), change an ad, renew or close it."""

from flask_babel import format_date
from flask_babel import gettext as _

from app import limits
from app.submissions import owner, threads
from app.submit import bp
from app.submit.forms import AdEditForm, AdOwnerForm, HideForm, ReplyForm
from app.submit.routes import sent
from app.submit.status import not_found, opened, receipt_opened, status_page
from app.submit.tus import form_key
from app.uploads import formfiles
from app.uploads.stores import app_storage


@bp.post("/status/hide")
@limits.owner_writes
def hide():
    """The sender hides our messages from this page: a receipt found on a seized phone no longer opens them."""
    hide_form = HideForm()
    submission, form = opened(hide_form.code.data)
    if submission is None:
        return not_found(hide_form.code.data)
    if not hide_form.validate():  # (a form with nothing but the code: only a missing CSRF token fails here)
        return status_page(form, submission), 422
    threads.hide(submission, receipt_opened(submission).opener)
    limits.taken()  # (each hiding rewrites the database's files: it counts like a send)
    notice = _("Our messages are hidden here: this code no longer opens them. New messages will still appear.")
    return status_page(form, submission, notice=notice)


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
        limits.taken()
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
    texts = receipt_opened(submission).opener.texts(submission)  # (all of them: the username too, kept as it is)
    if not submission.owner_may_edit or texts is None:
        return status_page(form, submission, notice=_("This ad can no longer be changed.")), 409
    if not edit_form.validate():
        return status_page(form, submission, edit_form=edit_form), 422
    changed = owner.edit(submission, edit_form.text(), texts)
    if changed is False:
        return status_page(form, submission, notice=_("This ad can no longer be changed.")), 409
    if changed is None:
        return status_page(form, submission, notice=_("Nothing was changed."), edit_form=edit_form), 422
    limits.taken()
    notice = _("Your changes are sent. A moderator will review the ad again; until then it is not shown on the site.")
    return status_page(form, submission, notice=notice)


@bp.post("/status/renew")
@limits.receipt_limits
def renew():
    """The ad's owner keeps it up for another period."""
    return owner_action(lambda submission: owner.renew(submission, receipt_opened(submission).opener))


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
        if receipt_opened(submission).locked:  # sent before sealing: its words wait for a moderator (rekeys.py)
            notice = _("This can be done once a moderator has next signed in: until then your ad stays sealed.")
        else:
            notice = _("This ad can no longer be changed.")
        return status_page(form, submission, notice=notice), 409
    if submission.closed_at:
        notice = _("Your ad is closed and no longer shown on the site.")
    else:
        notice = _("Your ad stays on the site until %(date)s.", date=format_date(submission.expires_at, "long"))
    return status_page(form, submission, notice=notice)
