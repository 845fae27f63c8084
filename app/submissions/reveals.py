"""Who sees a submitter's Telegram username (issue 28): nobody, until a staff member asks.

Pages show an item's username masked (sealed.mask). A moderator or admin who needs it asks for it (the item's
/reveal form), giving a reason from a short list (labels.REVEAL_REASONS), sealed to the queue epoch like a note;
the case's assignee, once the case has been open a day, needs none. Each ask is a row here and an audit event
("revealed": who, which item, never the username), and each person may ask REVEALS_PER_DAY times in 24 hours, so
that someone made to gather handles is slowed, and seen.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import func, select

from app import labels
from app.audit import record
from app.extensions import db
from app.models import Event, Reveal, Submission, User, utcnow
from app.submissions.sealed import Opener, seal_for_queue

ASSIGNEE_AFTER = timedelta(hours=24)  # a case's assignee sees its username without a reason after this
WINDOW = timedelta(hours=24)


class ReasonNeeded(Exception):
    """A reason from the list must be given."""


class TooMany(Exception):
    """This person has seen REVEALS_PER_DAY usernames in the last 24 hours."""


def needs_reason(submission: Submission, user: User, now: datetime | None = None) -> bool:
    """Every ask needs a reason, but the case assignee's once the case has been theirs for a day (taking a case on,
    or giving it to oneself, does not open its username at once)."""
    if not (submission.is_open_case and submission.assigned_to_id == user.id):
        return True
    theirs = select(func.max(Event.created_at)).where(
        Event.submission_id == submission.id, Event.action.in_(("assigned", "taken_on"))
    )
    since = max(db.session.scalar(theirs) or submission.case_since, submission.case_since)
    return since > (now or utcnow()) - ASSIGNEE_AFTER


def limit() -> int:
    return int(current_app.config["REVEALS_PER_DAY"])


def seen_today(user_id: int, now: datetime | None = None) -> int:
    """How many usernames this person has seen in the last 24 hours."""
    since = (now or utcnow()) - WINDOW
    query = select(func.count()).where(Event.action == "revealed", Event.actor_id == user_id, Event.created_at > since)
    return int(db.session.scalar(query) or 0)


def seen_today_by_person(now: datetime | None = None) -> dict[int, int]:
    """The same, for everyone at once (the staff page)."""
    since = (now or utcnow()) - WINDOW
    query = (
        select(Event.actor_id, func.count())
        .where(Event.action == "revealed", Event.created_at > since, Event.actor_id.is_not(None))
        .group_by(Event.actor_id)
    )
    return {int(user_id or 0): int(count) for user_id, count in db.session.execute(query)}


def reveal(submission: Submission, user: User, opener: Opener, reason: str | None) -> str | None:
    """The item's username for ``user``, recorded; None when there is none to show (locked to this person, or
    forgotten). ReasonNeeded, TooMany: nothing is shown or recorded."""
    texts = opener.texts(submission)
    if texts is None or not texts.telegram:
        return None
    now = utcnow()
    needed = needs_reason(submission, user, now)
    if needed and reason not in labels.REVEAL_REASONS:
        raise ReasonNeeded
    if seen_today(user.id, now) >= limit():
        raise TooMany
    epoch_id, sealed = seal_for_queue(str(reason) if needed else "assignee")
    db.session.add(Reveal(submission_id=submission.id, user_id=user.id, epoch_id=epoch_id, sealed=sealed))
    record("revealed", submission.id, actor_id=user.id)
    db.session.commit()
    return texts.telegram


def of_item(submission_id: int) -> list[Reveal]:
    """Who has seen an item's username, oldest first (for admins)."""
    query = select(Reveal).where(Reveal.submission_id == submission_id).order_by(Reveal.id)
    return list(db.session.scalars(query))
