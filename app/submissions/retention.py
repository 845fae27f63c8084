"""Forgetting on schedule: what `flask purge` deletes, for real, rows and stored files alike.

- rejected (and any withdrawn) submissions, RETENTION_DAYS after the decision;
- ads that expired or were closed more than AD_RETENTION_DAYS ago;
- audit events older than EVENT_RETENTION_DAYS.

Rows go in one transaction; files after the commit (a crash in between leaves files no row names, which
`flask uploads gc` removes). SQLite runs with secure_delete, so deleted rows are overwritten on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select

from app import erasure
from app.audit import record
from app.extensions import db
from app.models import Attachment, Event, Report, Submission, utcnow
from app.uploads.storage import derived_keys


@dataclass
class Purged:
    submissions: int = 0
    files: int = 0
    events: int = 0


def due(now: datetime, *, retention_days: int, ad_retention_days: int):
    """The submissions whose time is up."""
    decided_before = now - timedelta(days=retention_days)
    ad_gone_before = now - timedelta(days=ad_retention_days)
    return or_(
        and_(
            Submission.status.in_(("rejected", "withdrawn")),
            or_(
                Submission.decided_at < decided_before,
                and_(Submission.decided_at.is_(None), Submission.created_at < decided_before),
            ),
        ),
        and_(
            Submission.kind == "ad",
            Submission.status == "approved",
            or_(Submission.expires_at < ad_gone_before, Submission.closed_at < ad_gone_before),
        ),
    )


def purge(
    storage, *, retention_days: int, ad_retention_days: int, event_retention_days: int, now: datetime | None = None
) -> Purged:
    now = now or utcnow()
    # Subqueries, not lists of ids: a first purge after a flood of spam may hold more rows than a statement
    # can take parameters.
    doomed = select(Submission.id).where(due(now, retention_days=retention_days, ad_retention_days=ad_retention_days))
    keys = list(db.session.scalars(select(Attachment.storage_key).where(Attachment.submission_id.in_(doomed))))
    result = Purged(files=len(keys))
    # Children first: the same on PostgreSQL and SQLite, whatever ON DELETE the database applies.
    for child in (Attachment, Report):
        db.session.execute(delete(child).where(child.submission_id.in_(doomed)))
    result.submissions = db.session.execute(
        delete(Submission).where(Submission.id.in_(doomed)).execution_options(synchronize_session=False)
    ).rowcount
    result.events = db.session.execute(
        delete(Event).where(Event.created_at < now - timedelta(days=event_retention_days))
    ).rowcount
    record("purged", None, detail=f"{result.submissions} items, {result.files} files, {result.events} events")
    db.session.commit()
    for key in keys:
        for name in (key, *derived_keys(key)):
            storage.delete(name)
    erasure.vacuum(["submissions", "attachments", "reports", "events"])
    erasure.settle()
    return result
