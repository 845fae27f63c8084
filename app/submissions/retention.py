"""Forgetting on schedule: what `flask purge` deletes, for real, rows and stored files alike.

- rejected (and any withdrawn) submissions, RETENTION_DAYS after the decision;
- ads that expired or were closed more than AD_RETENTION_DAYS ago;
- cases (information and contacts taken on) CASE_RETENTION_DAYS after they were marked done;
- audit events older than EVENT_RETENTION_DAYS;
- the public copies of ads no longer live (expired or closed: public_copy.py).

Each goes with its files, reports, notes and messages. An admin can also delete any item at once (delete_now), and
a submitter can withdraw theirs (owner.withdraw); both go through erase().

Rows go in one transaction; files after the commit (a crash in between leaves files no row names, which
`flask uploads gc` removes). SQLite runs with secure_delete, so deleted rows are overwritten on disk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, and_, delete, or_, select

from app import erasure
from app.audit import record
from app.extensions import db
from app.models import (
    Attachment,
    Event,
    Message,
    Note,
    PublicAd,
    ReceiptRekey,
    Report,
    Reveal,
    Submission,
    User,
    utcnow,
)
from app.submissions import clocks, public_copy, reads
from app.uploads.storage import derived_keys

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

    from app.uploads.storage import Storage

# The tables a submission's text, files' names, reports and thread live in: what erasing one changes.
SUBMISSION_TABLES = (
    "submissions",
    "attachments",
    "reports",
    "messages",
    "notes",
    "public_ads",
    "reveals",
    "receipt_rekeys",
)


@dataclass
class Purged:
    submissions: int = 0
    files: int = 0
    events: int = 0
    copies: int = 0  # public copies of ads that expired


def erase(
    submission: Submission, storage: Storage, action: str, *, actor_id: int | None = None, detail: str = ""
) -> None:
    """Delete one submission now, with its files, reports, notes and thread; the audit keeps its id and ``action``."""
    keys = [k for a in submission.attachments for k in (a.storage_key, *derived_keys(a.storage_key))]
    record(action, submission.id, actor_id=actor_id, detail=detail)
    db.session.delete(submission)
    db.session.commit()
    # After the commit: a crash here leaves files that no row names, which `flask uploads gc` removes.
    for key in keys:
        storage.delete(key)
    erasure.settle(SUBMISSION_TABLES)


def delete_now(submission_id: int, user: User, storage: Storage) -> bool:
    """An admin deletes an item at once, whatever its state (after a confirmation step in the web layer)."""
    submission = db.session.get(Submission, submission_id)
    if submission is None or not user.can("administer"):
        return False
    erase(submission, storage, "deleted", actor_id=user.id, detail=submission.kind)
    return True


def due(
    now: datetime,
    *,
    retention_days: int,
    ad_retention_days: int,
    case_retention_days: int,
    pending_max_days: int,
    case_idle_days: int,
) -> ColumnElement[bool]:
    """The submissions whose time is up: kept long enough after their end, or left unfinished (clocks.py)."""
    decided_before = now - timedelta(days=retention_days)
    ad_gone_before = now - timedelta(days=ad_retention_days)
    return or_(
        clocks.overdue(now, pending_max_days, case_idle_days),
        and_(
            Submission.kind != "ad",
            Submission.status == "approved",
            Submission.done_at < now - timedelta(days=case_retention_days),
        ),
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
    storage: Storage,
    *,
    retention_days: int,
    ad_retention_days: int,
    case_retention_days: int,
    event_retention_days: int,
    pending_max_days: int,
    case_idle_days: int,
    now: datetime | None = None,
) -> Purged:
    now = now or utcnow()
    # Subqueries, not lists of ids: a first purge after a flood of spam may hold more rows than a statement
    # can take parameters.
    periods = {
        "retention_days": retention_days,
        "ad_retention_days": ad_retention_days,
        "case_retention_days": case_retention_days,
        "pending_max_days": pending_max_days,
        "case_idle_days": case_idle_days,
    }
    doomed = select(Submission.id).where(due(now, **periods))
    for submission_id in db.session.scalars(
        select(Submission.id).where(clocks.overdue(now, pending_max_days, case_idle_days))
    ):
        record("expired", submission_id)  # left unfinished past its clock: the trail says why it went
    keys = list(db.session.scalars(select(Attachment.storage_key).where(Attachment.submission_id.in_(doomed))))
    result = Purged(files=len(keys))
    # Children first (an answer's files before the answer): the same on PostgreSQL and SQLite, whatever ON DELETE
    # the database applies.
    for child in (Attachment, Report, Message, Note, PublicAd, Reveal, ReceiptRekey):
        db.session.execute(delete(child).where(child.submission_id.in_(doomed)))
    result.submissions = cast(
        "CursorResult[Any]",
        db.session.execute(
            delete(Submission).where(Submission.id.in_(doomed)).execution_options(synchronize_session=False)
        ),
    ).rowcount
    result.events = cast(
        "CursorResult[Any]",
        db.session.execute(delete(Event).where(Event.created_at < now - timedelta(days=event_retention_days))),
    ).rowcount
    reads.forget_before(now - timedelta(days=event_retention_days))
    result.copies = public_copy.erase_expired(now)
    record("purged", None, detail=f"{result.submissions} items, {result.files} files, {result.events} events")
    db.session.commit()
    for key in keys:
        for name in (key, *derived_keys(key)):
            storage.delete(name)
    erasure.settle((*SUBMISSION_TABLES, "events", "staff_reads"))
    return result
