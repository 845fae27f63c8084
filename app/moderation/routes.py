"""The moderation queue: its rows, tabs and filters, their counts, and the bar that says what arrived since.

An item and the decisions on it are in items.py, a case's forms and the messages in casework.py, the files in
attachments.py."""

import dataclasses
import time

from flask import render_template, request, session
from flask_babel import gettext as _
from flask_login import current_user

from app import labels
from app.fragments import wanted
from app.models import Submission, parse_id, utcnow
from app.moderation import bp
from app.moderation.forms import (
    FilterForm,
)
from app.moderation.reading import opener
from app.submissions import bulk, clocks, reads, unproved
from app.submissions import queue as staff_queue

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
        "review": _("Review"),
        "take_on": _("Take on"),
        "new_answer": _("new answer"),
        "just_now": _("just now"),
        "with_you": _("with you"),
        "locked": _("locked"),
        "kinds": {code: str(word) for code, word in labels.KINDS.items()},
        "purposes": {code: str(word) for code, word in labels.PURPOSES.items()},
        "categories": {code: str(word) for code, word in labels.CATEGORIES.items()},
        "deadline": clocks.deadline,  # (when purge deletes it unless renewed: shown in its last week)
        "last_week": clocks.LAST_WEEK,
    }


@bp.get("")
def queue():
    """List the items waiting for review, oldest first, with tabs, filters and "load more"."""
    form, filters = read_filters()
    if filters.q:
        reads.record(current_user.id, "search")  # (who searched, and when: never what)
    found = staff_queue.page(filters, opener(), request.args.get("after"))
    context = {
        "form": form,
        "filters": filters,
        "rows": found.rows,
        "cursor": found.cursor,
        "found": found,
        "query_args": query_args,
    }
    if wanted("more"):
        return render_template("moderation/partials/_rows.html", **context)
    # The tabs fetch their counts once shown: counting a 100k backlog takes longer than finding one page.
    context |= {"counts": None, "newest": staff_queue.newest_id(), "undo": session.get("undo")}
    if filters.view == "unproved":
        held, notes = unproved.held_reports(), opener()
        context |= {"held_reports": held, "unproved_most": bulk.MOST, "report_note": notes.report_note}
        # "Reject the oldest" takes the tab's oldest, whatever the filters: offered only where they are all shown.
        context["filtered"] = any(getattr(filters, name) for name in ("kind", "category", "q", "since", "until")) or (
            filters.has_attachments is not None
        )
    batch = session.get("undo_batch")
    context["undo_batch"] = batch if batch and batch.get("until", 0) > time.time() else None
    return render_template("moderation/queue.html", **context)


@bp.get("/counts")
def counts():
    """The tabs with their live counts (refreshed after every action)."""
    _form, filters = read_filters()
    # The kinds' tabs: no view. A search is not counted (it would open every item): its tabs show no numbers.
    numbers = None if filters.q else staff_queue.counts(dataclasses.replace(filters, view=None))
    return render_template(
        "moderation/partials/_tabs.html",
        counts=numbers,
        searching=bool(filters.q),
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
