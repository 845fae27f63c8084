"""Reads on the record (issue 28): opening an item's page, downloading or previewing its files, and each search of
the queue leave a row (person, item, kind, the hour), so that a leak can be traced to who could have seen it.
Never the words searched or what was read. Not audit events: a read changes nothing readers see, and the page
cache follows the events. One row per person, item, kind and hour; kept as long as the events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select

from app.audit import between_days
from app.extensions import db
from app.models import StaffRead, User, utcnow

PAGE_SIZE = 100


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def record(user_id: int, kind: str, submission_id: int | None = None) -> None:
    """Note that this person read (``kind``: item, file, preview) an item, or searched, this hour; committed."""
    if kind not in StaffRead.KINDS:
        raise ValueError(kind)
    hour = hour_of(utcnow())
    seen = select(StaffRead.id).where(
        StaffRead.user_id == user_id,
        StaffRead.kind == kind,
        StaffRead.hour == hour,
        StaffRead.submission_id.is_(None) if submission_id is None else StaffRead.submission_id == submission_id,
    )
    if db.session.scalar(seen.limit(1)) is None:  # (two at once may both add one: a harmless double)
        db.session.add(StaffRead(user_id=user_id, kind=kind, submission_id=submission_id, hour=hour))
        db.session.commit()


@dataclass
class Filters:
    actor: str | None = None  # a staff member's username
    submission_id: int | None = None
    since: date | None = None
    until: date | None = None


def page(filters: Filters, size: int = PAGE_SIZE) -> list[StaffRead]:
    """The newest reads that match, newest first."""
    query = select(StaffRead).order_by(StaffRead.hour.desc(), StaffRead.id.desc())
    if filters.actor is not None:
        query = query.join(StaffRead.user).where(User.username == filters.actor)
    if filters.submission_id:
        query = query.where(StaffRead.submission_id == filters.submission_id)
    query = between_days(query, StaffRead.hour, filters.since, filters.until)
    return list(db.session.scalars(query.limit(size)))


def of_item(submission_id: int) -> list[StaffRead]:
    """Who has looked at an item, oldest first (for admins)."""
    query = select(StaffRead).where(StaffRead.submission_id == submission_id).order_by(StaffRead.id)
    return list(db.session.scalars(query))


def forget_before(moment: datetime) -> int:
    """Delete the reads older than ``moment`` (flask purge, with the events)."""
    return int(db.session.execute(delete(StaffRead).where(StaffRead.hour < moment)).rowcount)  # type: ignore[attr-defined]
