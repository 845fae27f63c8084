"""What a staff member's unlocked session opens: one Opener per request (sealed.py), so each epoch's key is opened
once however many items a page shows. A session that is not unlocked (or an epoch not granted) sees "locked"."""

from flask import g
from flask_login import current_user

from app.extensions import db
from app.models import Submission
from app.sessions import staff_key
from app.submissions import sealed


def opener() -> sealed.Opener:
    if "opener" not in g:
        g.opener = sealed.Opener.for_staff(current_user, staff_key())
    return g.opener


def opened(submission: Submission) -> sealed.Opened:
    return sealed.Opened(opener(), submission)


def texts_of(submission_id: int) -> sealed.Texts | None:
    """An item's words as this staff member opens them (None: locked, or no such item)."""
    submission = db.session.get(Submission, submission_id)
    return None if submission is None else opener().texts(submission)
