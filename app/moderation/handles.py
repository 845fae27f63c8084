"""A submitter's Telegram username, shown to the staff member who asks for it, and to no one else
(app/submissions/reveals.py): the item's /reveal form. The answer is never stored (the blueprint's no-store)."""

from flask import render_template
from flask_babel import gettext as _
from flask_login import current_user

from app import limits
from app.extensions import db
from app.fragments import wanted
from app.models import Submission
from app.moderation import bp
from app.moderation.forms import RevealForm
from app.moderation.items import handle_context, item_context
from app.moderation.reading import opened, opener
from app.submissions import reveals


@bp.post("/<id:submission_id>/reveal")
@limits.staff_writes
def reveal(submission_id: int):
    """Show the item's username to this staff member, once they have said why; recorded."""
    submission = db.get_or_404(Submission, submission_id)
    form = RevealForm()
    handle, error, status = None, None, 200
    try:
        handle = reveals.reveal(submission, current_user, opener(), form.reveal_reason.data or None)
    except reveals.ReasonNeeded:
        error, status = _("Choose why you need to see it."), 422
    except reveals.TooMany:
        error = _(
            "You have seen %(num)d usernames in the last 24 hours, the most one person may. If the work needs more, "
            "ask an admin.",
            num=reveals.limit(),
        )
        status = 429
    if wanted(f"handle-{submission_id}"):
        context = handle_context(submission, handle, form, error)
        html = render_template(
            "moderation/partials/_handle.html", s=submission, o=opened(submission), in_panel=True, **context
        )
        return html, status
    context = item_context(submission, revealed=handle, reveal_form=form, reveal_error=error)
    return render_template("moderation/item.html", **context), status
