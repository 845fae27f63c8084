"""The audit log: who did what to which item, and when. Never an address, handle, text or file name.

What a submitter or a reader does (sending, withdrawing, renewing, closing, reporting) is kept at day precision,
and writes no security log line: the journal stamps each line to the microsecond, and that moment, matched with a
provider's connection logs, would name the person who acted, long after the item itself is gone. Every action is
still one new event, which the page cache relies on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from app import seclog
from app.extensions import db
from app.models import Event, User, utcnow

PAGE_SIZE = 50


def record(action: str, submission_id: int | None, *, actor_id: int | None = None, detail: str = "") -> Event:
    """Add an audit event to the session (committed with the change it records)."""
    by_public = action in Event.PUBLIC_ACTIONS and actor_id is None
    when = day_of(utcnow()) if by_public else utcnow()
    event = Event(
        action=action,
        submission_id=submission_id,
        actor_id=actor_id,
        detail=detail[: Event.DETAIL_MAX],
        created_at=when,
    )
    db.session.add(event)
    if not by_public:
        seclog.event("audit", action=action, item=submission_id, user=actor_id)
    return event


def day_of(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time())


def latest_event(submission_id: int) -> Event | None:
    """The last thing that happened to an item, other than being claimed."""
    query = select(Event).where(Event.submission_id == submission_id, Event.action != "claimed")
    return db.session.scalars(query.order_by(Event.id.desc()).limit(1)).first()


@dataclass
class Filters:
    action: str | None = None
    actor: str | None = None  # a staff member's username
    submission_id: int | None = None
    since: date | None = None  # first day, included
    until: date | None = None  # last day, included


def page(filters: Filters, before: int | None = None, size: int = PAGE_SIZE) -> tuple[list[Event], int | None]:
    """One page of the log, newest first, from below event id ``before``; and the ``before`` of the next page
    (None at the end)."""
    query = select(Event).order_by(Event.id.desc())
    if filters.action:
        query = query.where(Event.action == filters.action)
    if filters.actor is not None:
        query = query.join(Event.actor).where(User.username == filters.actor)
    if filters.submission_id:
        query = query.where(Event.submission_id == filters.submission_id)
    query = between_days(query, Event.created_at, filters.since, filters.until)
    if before:
        query = query.where(Event.id < before)
    events = list(db.session.scalars(query.limit(size + 1)))
    return events[:size], (events[size - 1].id if len(events) > size else None)


def between_days(query: Any, column: Any, since: date | None, until: date | None) -> Any:
    """``query`` limited to ``column`` from the start of ``since`` to the end of ``until`` (each left out if None):
    the audit log's day filters, for its events and its reads."""
    if since:
        query = query.where(column >= datetime.combine(since, time.min))
    if until:
        query = query.where(column < datetime.combine(until + timedelta(days=1), time.min))
    return query
