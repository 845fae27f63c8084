"""One item: its page or side panel, and what staff decide on it (claim, approve, reject, edit an ad, undo, spam,
delete), each answering htmx with the new state and a page with a redirect; a stale action answers 409."""

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user

from app import labels
from app.extensions import db
from app.fragments import wanted
from app.models import Submission, parse_id, utcnow
from app.moderation import bp
from app.moderation.forms import (
    ActionForm,
    AssignForm,
    DeleteForm,
    DoneForm,
    EditAdForm,
    MessageForm,
    NoteForm,
    RejectForm,
    RenewForm,
    RevealForm,
)
from app.moderation.reading import opened, opener, texts_of
from app.submissions import cases, clocks, decisions, owner, reads, retention, reveals, threads
from app.submissions import queue as staff_queue
from app.uploads.stores import app_storage


@bp.get("/<id:submission_id>")
def item(submission_id: int):
    """Show one item with its files, history and actions: in the side panel, or as a page."""
    submission = db.get_or_404(Submission, submission_id)
    reads.record(current_user.id, "item", submission.id)
    context = item_context(submission)
    if wanted("panel"):
        return render_template("moderation/partials/_item.html", in_panel=True, **context)
    return render_template("moderation/item.html", **context)


def item_context(submission: Submission, notice: str | None = None, revealed: str | None = None, **forms) -> dict:
    """What an item's page and panel show. ``revealed``: its username, just asked for (the /reveal answer)."""
    version = {"version": submission.version}
    item = opened(submission)
    edit = forms.get("edit_form") or EditAdForm(formdata=None, data=item.values(decisions.EDITABLE), **version)
    reject = forms.get("reject_form") or RejectForm(formdata=None, **version)
    if submission.kind != "ad":
        reject.reason.choices = [c for c in reject.reason.choices if c.value not in labels.AD_ONLY_REASONS]
    assign = forms.get("assign_form") or AssignForm(formdata=None, assignee=str(submission.assigned_to_id), **version)
    assign.set_choices(cases.assignees())
    return {
        "submission": submission,
        "opened": item,
        "notice": notice,
        "history": staff_queue.history(submission.id),
        "action_form": ActionForm(formdata=None, **version),
        "reject_form": reject,
        "edit_form": edit,
        "assign_form": assign,
        "done_form": forms.get("done_form") or DoneForm(formdata=None, **version),
        "note_form": forms.get("note_form") or NoteForm(formdata=None),
        "message_form": forms.get("message_form") or MessageForm(formdata=None),
        "thread_open": threads.is_open(submission),
        "owner_changes": owner.changes_by_owner(item),
        "claim_minutes": decisions.CLAIM_MINUTES,
        "reads": reads.of_item(submission.id) if current_user.can("administer") else [],  # who has looked at it
        "deadline": clocks.deadline(submission),
        "deadline_soon": clocks.in_last_week(submission, utcnow()),
        "renew_form": forms.get("renew_form") or RenewForm(formdata=None),
        **handle_context(submission, revealed, forms.get("reveal_form"), forms.get("reveal_error")),
    }


def handle_context(submission: Submission, revealed: str | None, form=None, error: str | None = None) -> dict:
    """The username's line: masked with the form that asks for it, or shown (just asked for); the reveals so far
    for an admin."""
    return {
        "revealed": revealed,
        "reveal_form": form or RevealForm(formdata=None),
        "reveal_error": error,
        "reveal_needs_reason": reveals.needs_reason(submission, current_user),
        "reveals": reveals.of_item(submission.id) if current_user.can("administer") else [],
    }


@bp.post("/<id:submission_id>/claim")
def claim(submission_id: int):
    """Take an item for a few minutes, so that no one else acts on it meanwhile."""
    # (CSRF is checked app-wide; the button sends nothing else.)
    try:
        submission = decisions.claim(submission_id, current_user)
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    if wanted():
        return render_template("moderation/partials/_claim.html", submission=submission)
    return redirect(url_for("moderation.item", submission_id=submission_id), code=303)


@bp.post("/<id:submission_id>/release")
def release(submission_id: int):
    """Give back an item one holds (the side panel was closed): others may take it at once, not in minutes."""
    decisions.release(submission_id, current_user)
    if wanted():
        return "", 204
    return redirect(url_for("moderation.queue"), code=303)


@bp.post("/<id:submission_id>/approve")
def approve(submission_id: int):
    """Approve an item; an ad is published."""
    form = ActionForm()
    if not form.validate():
        return redirect(url_for("moderation.item", submission_id=submission_id), code=303)
    shown = request.form.getlist("public_image", type=parse_id)
    return act(
        submission_id,
        lambda: decisions.approve(submission_id, form.version.data, current_user, shown, opener()),
    )


@bp.post("/<id:submission_id>/reject")
def reject(submission_id: int):
    """Reject an item with a reason the submitter will read."""
    form = RejectForm()
    if not form.validate():
        return form_errors(submission_id, reject_form=form)
    return act(
        submission_id,
        lambda: decisions.reject(submission_id, form.version.data, current_user, form.reason.data, form.note.data),
    )


@bp.post("/<id:submission_id>/edit")
def edit(submission_id: int):
    """Correct an ad before approving it; the audit log names the changed fields."""
    form = EditAdForm()
    if not form.validate():
        return form_errors(submission_id, edit_form=form)
    try:
        result = decisions.edit_ad(submission_id, form.version.data, current_user, form.text(), texts_of(submission_id))
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    except decisions.Locked:
        return form_errors(submission_id, notice=locked_message(), edit_form=form)
    except decisions.NotAllowed:
        return form_errors(submission_id, edit_form=form)
    flash(_("The ad is saved. Review it once more and approve it when it is ready."))
    context = item_context(result.submission)
    if wanted():
        return render_template("moderation/partials/_item.html", in_panel=True, **context)
    return redirect(url_for("moderation.item", submission_id=submission_id), code=303)


@bp.post("/<id:submission_id>/undo")
def undo(submission_id: int):
    """Take back one's own decision within a few seconds: the item returns to the queue."""
    form = ActionForm()
    if not form.validate():
        return redirect(url_for("moderation.queue"), code=303)
    try:
        result = decisions.undo(submission_id, form.version.data, current_user)
    except decisions.NotAllowed:
        return too_late(submission_id)
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    session.pop("undo", None)
    if wanted():
        row = staff_queue.Row(result.submission, len(result.submission.attachments), texts_of(submission_id))
        response = render_template("moderation/partials/_row.html", row=row)
        return make_response(response, trigger="queue-changed")
    flash(_("Undone: the item is back in the queue."))
    return redirect(url_for("moderation.queue"), code=303)


def act(submission_id: int, action):
    """Run a decision; answer htmx with the row's new state, and a page with a redirect."""
    try:
        result = action()
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    except decisions.Locked:
        return form_errors(submission_id, notice=locked_message())
    except decisions.NotAllowed:
        return form_errors(submission_id)
    undo = {"id": submission_id, "version": result.submission.version, "action": result.event.action}
    if wanted():
        html = render_template(
            "moderation/partials/_done.html",
            submission=result.submission,
            opened=opened(result.submission),
            undo=undo,
            undo_seconds=decisions.UNDO_SECONDS,
        )
        return make_response(html, trigger="queue-changed")
    session["undo"] = undo
    return redirect(url_for("moderation.queue"), code=303)


@bp.route("/<id:submission_id>/delete", methods=["GET", "POST"])
def delete(submission_id: int):
    """An admin deletes an item at once, files, notes and messages included, after confirming."""
    if not current_user.can("administer"):
        abort(403)
    submission = db.get_or_404(Submission, submission_id)
    form = DeleteForm()
    if not form.is_submitted():
        reads.record(current_user.id, "item", submission.id)  # (the page shows its words)
    if form.validate_on_submit():
        retention.delete_now(submission.id, current_user, app_storage())
        flash(_("Item #%(id)d is deleted for good.", id=submission_id))
        return redirect(url_for("moderation.queue"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template(
        "moderation/delete.html", submission=submission, opened=opened(submission), form=form
    ), status


def locked_message() -> str:
    return _(
        "This item is locked to you: your key does not open it yet, so you cannot do what needs its text. "
        "An admin can give you the older items on the Staff page; meanwhile you can still take it on, reject it, "
        "write notes and messages."
    )


def form_errors(submission_id: int, **forms):
    """Show the item again with the form's errors (in the side panel for htmx)."""
    submission = db.get_or_404(Submission, submission_id)
    context = item_context(submission, **forms)
    if wanted():
        html = render_template("moderation/partials/_item.html", in_panel=True, **context)
        return make_response(html, 422, retarget="#panel", reswap="innerHTML")
    return render_template("moderation/item.html", **context), 422


def conflict_response(conflict: decisions.Conflict, submission_id: int):
    """409: someone else acted first. Say who did what, and when."""
    context = {
        "conflict": conflict,
        "submission_id": submission_id,
        "as_row": wanted(f"row-{submission_id}"),
    }
    if wanted():
        return render_template("moderation/partials/_conflict.html", **context), 409
    return render_template("moderation/conflict.html", **context), 409


def too_late(submission_id: int):
    submission = db.get_or_404(Submission, submission_id)
    if wanted():
        html = render_template(
            "moderation/partials/_done.html", submission=submission, opened=opened(submission), undo=None, too_late=True
        )
        return html, 409
    flash(_("It is too late to undo this decision."))
    return redirect(url_for("moderation.item", submission_id=submission_id), code=303)
