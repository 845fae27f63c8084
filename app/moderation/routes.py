import dataclasses

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_htmx import make_response
from flask_login import current_user

from app import labels, limits
from app.extensions import db
from app.fragments import wanted
from app.models import Attachment, Submission, parse_id, utcnow
from app.moderation import bp
from app.moderation.forms import (
    ActionForm,
    AssignForm,
    DeleteForm,
    DoneForm,
    EditAdForm,
    FilterForm,
    MessageForm,
    NoteForm,
    RejectForm,
)
from app.submissions import cases, decisions, owner, retention, threads
from app.submissions import queue as staff_queue
from app.uploads.serve import send_stored
from app.uploads.storage import preview_key
from app.uploads.stores import app_storage

SEARCH_ARGS = ("kind", "view", "status", "category", "files", "since", "until", "q")


def read_filters() -> tuple[FilterForm, staff_queue.Filters]:
    form = FilterForm(formdata=request.args)
    form.validate()
    kind = form.kind.data if form.kind.data in Submission.KINDS else None
    files = {"yes": True, "no": False}.get(form.files.data)
    filters = staff_queue.Filters(
        kind=kind,
        status=form.status.data if form.status.data in Submission.STATUSES else "pending",
        view=form.view.data if form.view.data in staff_queue.VIEWS else None,
        user_id=current_user.id,
        category=form.category.data if form.category.data in Submission.CATEGORIES else None,
        has_attachments=files,
        since=None if form.since.errors else form.since.data,
        until=None if form.until.errors else form.until.data,
        q="" if form.q.errors else (form.q.data or ""),
    )
    return form, filters


def query_args(**changes) -> dict:
    """The current filters as URL arguments, with some changed (for tabs and links)."""
    args = {k: v for k in SEARCH_ARGS if (v := request.args.get(k))}
    args.update(changes)
    return {k: v for k, v in args.items() if v}


@bp.context_processor
def row_helpers() -> dict:
    return {"row_shared": row_shared}


def row_shared() -> dict:
    """What every queue row shows alike, worked out once per page instead of once per row."""
    from flask_wtf.csrf import generate_csrf

    return {
        "csrf": generate_csrf(),
        "now": utcnow(),
        "user_id": current_user.id,
        "approve": _("Approve"),
        "take_on": _("Take on"),
        "new_answer": _("new answer"),
        "just_now": _("just now"),
        "with_you": _("with you"),
        "kinds": {code: str(word) for code, word in labels.KINDS.items()},
        "purposes": {code: str(word) for code, word in labels.PURPOSES.items()},
        "categories": {code: str(word) for code, word in labels.CATEGORIES.items()},
    }


@bp.get("")
def queue():
    """List the items waiting for review, oldest first, with tabs, filters and "load more"."""
    form, filters = read_filters()
    rows, cursor = staff_queue.page(filters, request.args.get("after"))
    context = {"form": form, "filters": filters, "rows": rows, "cursor": cursor, "query_args": query_args}
    if wanted("more"):
        return render_template("moderation/partials/_rows.html", **context)
    # The tabs fetch their counts once shown: counting a 100k backlog takes longer than finding one page.
    context |= {"counts": None, "newest": staff_queue.newest_id(), "undo": session.get("undo")}
    return render_template("moderation/queue.html", **context)


@bp.get("/counts")
def counts():
    """The tabs with their live counts (refreshed after every action)."""
    _form, filters = read_filters()
    numbers, at_least = staff_queue.counts(dataclasses.replace(filters, view=None))  # the kinds' tabs: no view
    return render_template(
        "moderation/partials/_tabs.html",
        counts=numbers,
        at_least=at_least,
        case_counts=staff_queue.case_counts(current_user.id),
        filters=filters,
        query_args=query_args,
    )


@bp.get("/new")
def new():
    """How many items arrived since the page was drawn: a bar, never rows moving under the cursor."""
    _form, filters = read_filters()
    last = request.args.get("last", type=parse_id) or 0
    return render_template(
        "moderation/partials/_new.html",
        arrived=staff_queue.arrived_since(last, filters),
        last=last,
        query_args=query_args,
    )


@bp.get("/<id:submission_id>")
def item(submission_id: int):
    """Show one item with its files, history and actions: in the side panel, or as a page."""
    submission = db.get_or_404(Submission, submission_id)
    context = item_context(submission)
    if wanted("panel"):
        return render_template("moderation/partials/_item.html", in_panel=True, **context)
    return render_template("moderation/item.html", **context)


def item_context(submission: Submission, notice: str | None = None, **forms) -> dict:
    version = {"version": submission.version}
    edit = forms.get("edit_form") or EditAdForm(formdata=None, obj=submission, **version)
    reject = forms.get("reject_form") or RejectForm(formdata=None, **version)
    if submission.kind != "ad":
        reject.reason.choices = [c for c in reject.reason.choices if c.value not in labels.AD_ONLY_REASONS]
    assign = forms.get("assign_form") or AssignForm(formdata=None, assignee=str(submission.assigned_to_id), **version)
    assign.set_choices(cases.assignees())
    return {
        "submission": submission,
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
        "owner_changes": owner.changes_by_owner(submission),
        "claim_minutes": decisions.CLAIM_MINUTES,
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
    return act(submission_id, lambda: decisions.approve(submission_id, form.version.data, current_user, shown))


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
        result = decisions.edit_ad(submission_id, form.version.data, current_user, form.text())
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
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
        row = staff_queue.Row(result.submission, len(result.submission.attachments))
        response = render_template("moderation/partials/_row.html", row=row)
        return make_response(response, trigger="queue-changed")
    flash(_("Undone: the item is back in the queue."))
    return redirect(url_for("moderation.queue"), code=303)


@bp.post("/spam")
def spam():
    """Reject the ticked items as spam, all at once."""
    chosen = []
    for value in request.form.getlist("item"):
        ident, _sep, version = value.partition(":")
        try:
            chosen.append((parse_id(ident), parse_id(version)))
        except ValueError:
            continue  # not an item of this queue
    done, skipped = decisions.reject_spam(chosen, current_user)
    flash(_("%(done)d rejected as spam.", done=done))
    if skipped:
        flash(_("%(skipped)d skipped: someone else acted on them first.", skipped=skipped))
    return redirect(url_for("moderation.queue", **query_args()), code=303)


def act(submission_id: int, action):
    """Run a decision; answer htmx with the row's new state, and a page with a redirect."""
    try:
        result = action()
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    except decisions.NotAllowed:
        return form_errors(submission_id)
    undo = {"id": submission_id, "version": result.submission.version, "action": result.event.action}
    if wanted():
        html = render_template(
            "moderation/partials/_done.html",
            submission=result.submission,
            undo=undo,
            undo_seconds=decisions.UNDO_SECONDS,
        )
        return make_response(html, trigger="queue-changed")
    session["undo"] = undo
    return redirect(url_for("moderation.queue"), code=303)


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
        lambda: cases.done(submission_id, form.version.data, current_user, forget_contact=forget),
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


@bp.post("/<id:submission_id>/read")
def read(submission_id: int):
    """Mark the sender's answers as read: the item leaves "New answers"."""
    # (CSRF is checked app-wide; the version is not: answers leave it alone.)
    return follow_up(submission_id, lambda: threads.mark_read(submission_id, current_user), _("Marked as read."))


@bp.route("/<id:submission_id>/delete", methods=["GET", "POST"])
def delete(submission_id: int):
    """An admin deletes an item at once, files, notes and messages included, after confirming."""
    if not current_user.can("administer"):
        abort(403)
    submission = db.get_or_404(Submission, submission_id)
    form = DeleteForm()
    if form.validate_on_submit():
        retention.delete_now(submission.id, current_user, app_storage())
        flash(_("Item #%(id)d is deleted for good.", id=submission_id))
        return redirect(url_for("moderation.queue"), code=303)
    status = 422 if form.is_submitted() else 200
    return render_template("moderation/delete.html", submission=submission, form=form), status


def follow_up(submission_id: int, action, notice: str, **forms):
    """Run a case or thread action; show the item again (the side panel for htmx, the page after a redirect)."""
    try:
        action()
    except decisions.Conflict as conflict:
        return conflict_response(conflict, submission_id)
    except decisions.NotAllowed:
        return form_errors(submission_id, notice=_("This can no longer be done on this item."), **forms)
    if wanted():
        submission = db.get_or_404(Submission, submission_id)
        html = render_template("moderation/partials/_item.html", in_panel=True, **item_context(submission, notice))
        return make_response(html, trigger="queue-changed")
    flash(notice)
    return redirect(url_for("moderation.item", submission_id=submission_id), code=303)


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
        html = render_template("moderation/partials/_done.html", submission=submission, undo=None, too_late=True)
        return html, 409
    flash(_("It is too late to undo this decision."))
    return redirect(url_for("moderation.item", submission_id=submission_id), code=303)


@bp.get("/attachments/<id:attachment_id>")
def attachment(attachment_id: int):
    """Download an attachment: never shown inline, never sniffed, sandboxed if opened anyway."""
    item = db.get_or_404(Attachment, attachment_id)
    return send_stored(item.storage_key, item.content_type, download_name=item.original_name)


@bp.get("/attachments/<id:attachment_id>/preview")
@bp.get("/attachments/<id:attachment_id>/preview/<int(min=0, max=9):index>")
def preview(attachment_id: int, index: int = 0):
    """A small JPEG made from the clean pixels: an image's thumbnail, or one of a PDF's first pages."""
    item = db.get_or_404(Attachment, attachment_id)
    if index >= item.previews:
        abort(404)
    return send_stored(preview_key(item.storage_key, index), "image/jpeg")
