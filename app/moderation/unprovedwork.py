"""The queue's tab "sent without the puzzle" (app/submissions/unproved.py): what was sent on the onion without
JavaScript waits there. Its items are read and decided like any other (the bulk bar too); here staff reject the
oldest of them at once, and count or dismiss the readers' reports that wait there."""

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from app import limits
from app.models import parse_id
from app.moderation import bp
from app.moderation.bulkwork import run
from app.submissions import bulk, unproved


def back():
    return redirect(url_for("moderation.queue", view="unproved"), code=303)


@bp.post("/unproved/reject")
@limits.staff_writes
def reject_unproved():
    """Reject the tab's oldest items as spam, as many as one batch may hold (with the batch's undo)."""
    return run("reject", "spam", unproved.oldest(bulk.MOST))


@bp.post("/unproved/reports")
@limits.staff_writes
def unproved_reports():
    """Count one waiting report (it may send its ad back to the queue), dismiss it, or dismiss them all."""
    action = request.form.get("do", "")
    if action == "dismiss_all":
        gone = unproved.dismiss()
        flash(ngettext("%(num)d report dismissed.", "%(num)d reports dismissed.", gone))
        return back()
    try:
        report_id = parse_id(request.form.get("report", ""))
    except ValueError:
        return back()
    if action == "count":
        returned = unproved.count(report_id, threshold=current_app.config["REPORT_THRESHOLD"])
        if returned is None:
            flash(_("This report no longer waits here: someone dealt with it, or its ad left the site."))
        elif returned:
            flash(_("Report counted. The ad had enough reports: it left the site and is back in the queue."))
        else:
            flash(_("Report counted."))
    elif action == "dismiss":
        gone = unproved.dismiss([report_id])
        flash(ngettext("%(num)d report dismissed.", "%(num)d reports dismissed.", gone))
    return back()
