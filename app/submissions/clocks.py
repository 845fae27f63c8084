"""A clock on everything (issue 28): nothing that nobody finishes is kept for ever.

An item waiting for moderation is deleted by `flask purge` PENDING_MAX_DAYS after it last entered the queue
(``queued_at``: when it was sent, edited by its owner, or sent back by readers' reports); an open case CASE_IDLE_DAYS
after it was last touched (``touched_at``: taken on, assigned, a note, a message, the sender's answer; never a
read). A staff member may renew either (the /renew form, with a reason from a short list: an audit event), which
starts its clock again. In its last week an item says "deleted on <day> unless renewed" in the queue, and wakes the
staff digest; /status tells its sender the day. A setting of 0 makes everything due at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, update

from app import labels
from app.audit import day_of, record
from app.extensions import db
from app.models import Submission, utcnow

LAST_WEEK = timedelta(days=7)


class NotRenewable(Exception):
    """Not waiting for moderation, nor an open case (decided or closed meanwhile), or no reason of the list."""


def _days(name: str) -> timedelta:
    return timedelta(days=int(current_app.config[name]))


def case_touched() -> Any:
    """When an open case was last touched (SQL): taken on, or touched since."""
    return func.coalesce(Submission.touched_at, Submission.decided_at, Submission.created_at)


def deadline(submission: Submission) -> datetime | None:
    """When ``flask purge`` deletes the item unless it is renewed or decided; None if no clock runs on it."""
    if submission.status == "pending":
        return submission.queued_at + _days("PENDING_MAX_DAYS")
    if submission.is_open_case:
        return (submission.touched_at or submission.case_since) + _days("CASE_IDLE_DAYS")
    return None


def in_last_week(submission: Submission, now: datetime) -> bool:
    due = deadline(submission)
    return due is not None and due - now <= LAST_WEEK


def overdue(now: datetime, pending_max_days: int, case_idle_days: int) -> ColumnElement[bool]:
    """The items whose clock has run out (retention.due adds them to what purge deletes)."""
    return or_(
        and_(Submission.status == "pending", Submission.queued_at <= now - timedelta(days=pending_max_days)),
        and_(Submission.is_open_case, case_touched() <= now - timedelta(days=case_idle_days)),
    )


def entered_last_week(since: datetime | None, now: datetime) -> ColumnElement[bool]:
    """The items whose last week began after ``since`` and by ``now`` (they wake the staff digest once)."""
    pending, idle = _days("PENDING_MAX_DAYS") - LAST_WEEK, _days("CASE_IDLE_DAYS") - LAST_WEEK
    waiting = and_(Submission.status == "pending", Submission.queued_at <= now - pending)
    untouched = and_(Submission.is_open_case, case_touched() <= now - idle)
    if since is not None:
        waiting = and_(waiting, Submission.queued_at > since - pending)
        untouched = and_(untouched, case_touched() > since - idle)
    return or_(waiting, untouched)


def touch(submission_id: int, *, day_only: bool = False) -> None:
    """A case was worked on (in the caller's transaction): its clock starts again. ``day_only`` for what its sender
    did, kept no finer than the day (as the audit log keeps it)."""
    now = utcnow()
    statement = (
        update(Submission).where(Submission.id == submission_id).values(touched_at=day_of(now) if day_only else now)
    )
    db.session.execute(statement.execution_options(synchronize_session=False))


def renew(submission_id: int, user_id: int, reason: str) -> datetime:
    """Start an item's clock again, for a reason of the list; returns its new deadline. NotRenewable otherwise."""
    if reason not in labels.RENEW_REASONS:
        raise NotRenewable("no reason")
    now = utcnow()
    statement = update(Submission).where(Submission.id == submission_id)
    pending = statement.where(Submission.status == "pending").values(queued_at=now)
    case = statement.where(Submission.is_open_case).values(touched_at=now)
    changed = sum(
        cast("CursorResult[Any]", db.session.execute(s.execution_options(synchronize_session=False))).rowcount
        for s in (pending, case)
    )
    if not changed:
        db.session.rollback()
        raise NotRenewable("not waiting, nor an open case")
    record("clock_renewed", submission_id, actor_id=user_id, detail=reason)
    db.session.commit()
    submission = db.session.get(Submission, submission_id, populate_existing=True)
    return cast("datetime", deadline(cast("Submission", submission)))
