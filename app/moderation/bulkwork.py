"""Work on many ticked items at once (app/submissions/bulk.py): take them on, reject them with a reason (as spam
has its own button), and undo the whole batch within the undo window. Each answers with a redirect to the queue
and says what was done, and which rows were left because someone else changed them first."""

import time

from flask import flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app import labels, limits
from app.models import parse_id
from app.moderation import bp
from app.moderation.routes import query_args
from app.submissions import bulk, decisions


def ticked() -> list[tuple[int, int]]:
    """The ticked rows, as (id, version seen); anything else in the form is ignored."""
    chosen = []
    for value in request.form.getlist("item"):
        ident, _sep, version = value.partition(":")
        try:
            chosen.append((parse_id(ident), parse_id(version)))
        except ValueError:
            continue  # not an item of this queue
    return chosen


@bp.post("/spam")
@limits.staff_writes
def spam():
    """Reject the ticked items as spam, all at once."""
    return run("reject", "spam")


@bp.post("/bulk")
@limits.staff_writes
def bulk_action():
    """Take on, or reject with a reason, the ticked items."""
    action = request.form.get("bulk_action", "")
    if action == "spam":
        return run("reject", "spam")
    return run(action, request.form.get("bulk_reason") or None)


def run(action: str, reason: str | None, items: list[tuple[int, int]] | None = None):
    """Run a bulk action on ``items`` (by default the ticked rows) and go back to the queue, saying what was done."""
    try:
        batch = bulk.apply(ticked() if items is None else items, current_user, action, reason)
    except bulk.TooMany:
        flash(_("Tick at most %(num)d items at once.", num=bulk.MOST))
        return redirect(url_for("moderation.queue", **query_args()), code=303)
    except decisions.NotAllowed:
        flash(_("Choose what to do with the ticked items, and for a rejection its reason."))
        return redirect(url_for("moderation.queue", **query_args()), code=303)
    done = len(batch.done)
    if action == "take_on":
        flash(ngettext("%(num)d item taken on.", "%(num)d items taken on.", done))
    else:
        word = labels.REJECT_REASONS[str(reason)]
        flash(ngettext("%(num)d item rejected: %(reason)s.", "%(num)d items rejected: %(reason)s.", done, reason=word))
    if batch.changed:
        numbers = ", ".join(f"#{i}" for i in batch.changed)
        flash(_("Left as they are, because someone else acted on them first: %(items)s.", items=numbers))
    if batch.refused:
        numbers = ", ".join(f"#{i}" for i in batch.refused)
        if action == "take_on":
            flash(_("Not taken on: %(items)s. Ads are approved one at a time, from their page.", items=numbers))
        else:
            flash(_("Not rejected: %(items)s. This reason is for ads only.", items=numbers))
    if batch.done:
        session["undo_batch"] = {
            "done": batch.done,
            "action": "taken_on" if action == "take_on" else "rejected",
            "until": time.time() + decisions.UNDO_SECONDS,  # (the queue offers the undo until then)
        }
    return redirect(url_for("moderation.queue", **query_args()), code=303)


@bp.post("/undo-batch")
@limits.staff_writes
def undo_batch():
    """Take back the last batch, within the undo window: its items return to the queue."""
    kept = session.pop("undo_batch", None) or {}
    done = [(int(i), int(v)) for i, v in kept.get("done", [])]
    undone, left = bulk.undo(done, current_user)
    flash(ngettext("%(num)d item is back in the queue.", "%(num)d items are back in the queue.", undone))
    if left:
        numbers = ", ".join(f"#{i}" for i in left)
        flash(_("Too late to undo, or changed since: %(items)s.", items=numbers))
    return redirect(url_for("moderation.queue", **query_args()), code=303)
