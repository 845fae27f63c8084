"""A case's forms (assign, done) and the thread: internal notes, messages to the sender, answers marked read."""

from flask import flash, redirect, render_template, url_for
from flask_babel import format_date
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user

from app import labels, limits
from app.extensions import db
from app.fragments import wanted
from app.models import Submission
from app.moderation import bp
from app.moderation.forms import (
    AssignForm,
    DoneForm,
    MessageForm,
    NoteForm,
    RenewForm,
)
from app.moderation.items import conflict_response, form_errors, item_context, locked_message
from app.moderation.reading import texts_of
from app.submissions import cases, clocks, decisions, threads


@bp.post("/<id:submission_id>/assign")
def assign(submission_id: int):
    """Give an open case to a colleague."""
    form = AssignForm()
    form.set_choices(cases.assignees())
    if not form.validate():
        return form_errors(submission_id, assign_form=form)
    return follow_up(
        submission_id,
        lambda: cases.assign(submission_id, form.version.data, current_user, form.assignee_id),
        _("The case is assigned."),
        assign_form=form,
    )


@bp.post("/<id:submission_id>/done")
def done(submission_id: int):
    """Mark a case done; optionally forget the sender's Telegram username at once."""
    form = DoneForm()
    if not form.validate():
        return form_errors(submission_id, done_form=form)
    forget = bool(form.forget.data)
    notice = _("The case is done and the Telegram username is forgotten.") if forget else _("The case is done.")
    return follow_up(
        submission_id,
        lambda: cases.done(
            submission_id, form.version.data, current_user, forget_contact=forget, texts=texts_of(submission_id)
        ),
        notice,
        done_form=form,
    )


@bp.post("/<id:submission_id>/note")
@limits.staff_writes
def note(submission_id: int):
    """Add an internal note (never shown to the sender)."""
    form = NoteForm()
    if not form.validate():
        return form_errors(submission_id, note_form=form)
    return follow_up(
        submission_id,
        lambda: cases.add_note(submission_id, current_user, form.internal_note.data),
        _("The note is added."),
    )


@bp.post("/<id:submission_id>/message")
@limits.staff_writes
def message(submission_id: int):
    """Write to the sender, who reads it at /status with the receipt."""
    form = MessageForm()
    if not form.validate():
        return form_errors(submission_id, message_form=form)
    return follow_up(
        submission_id,
        lambda: threads.write(submission_id, current_user, form.message.data),
        _("The message is sent. The sender reads it with the receipt code."),
        message_form=form,
    )


@bp.post("/<id:submission_id>/renew")
@limits.staff_writes
def renew(submission_id: int):
    """Keep an item that nobody has finished past its clock, for a reason of the list (an audit event)."""
    form = RenewForm()
    if not form.validate() or form.renew_reason.data not in labels.RENEW_REASONS:
        form.renew_reason.errors = [_("Choose why it should be kept.")]
        return form_errors(submission_id, renew_form=form)
    try:
        until = clocks.renew(submission_id, current_user.id, form.renew_reason.data)
    except clocks.NotRenewable:
        notice = _("Only an item waiting for moderation, or an open case, can be kept longer.")
        return form_errors(submission_id, notice=notice)
    return follow_up(submission_id, lambda: None, _("Kept until %(day)s.", day=format_date(until, "long")))


@bp.post("/<id:submission_id>/read")
def read(submission_id: int):
    """Mark the sender's answers as read: the item leaves "New answers"."""
    # (CSRF is checked app-wide; the version is not: answers leave it alone.)
    return follow_up(submission_id, lambda: threads.mark_read(submission_id, current_user), _("Marked as read."))


def follow_up(submission_id: int, action, notice: str, **forms):
    """Run a case or thread action; show the item again (the side panel for htmx, the page after a redirect)."""
    try:
        action()
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    except decisions.Locked:
        return form_errors(submission_id, notice=locked_message(), **forms)
    except decisions.NotAllowed:
        return form_errors(submission_id, notice=_("This can no longer be done on this item."), **forms)
    if wanted():
        submission = db.get_or_404(Submission, submission_id)
        html = render_template("moderation/partials/_item.html", in_panel=True, **item_context(submission, notice))
        return make_response(html, trigger="queue-changed")
    flash(notice)
    return redirect(url_for("moderation.item", submission_id=submission_id), code=303)
