"""Readers' reports of published ads: enough of them send an ad back to the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update

from app.audit import day_of, record
from app.extensions import db
from app.models import Report, Submission, utcnow
from app.submissions import public_copy, sealed
from app.submissions.decisions import NotAllowed

if TYPE_CHECKING:
    from sqlalchemy import CursorResult


def report(submission_id: int, reason: str, note: str, *, threshold: int, unproved: bool = False) -> bool:
    """Record a reader's report of a live ad; at ``threshold`` reports since it was published, the ad
    leaves the site and goes back to the queue. Returns True when it went back. An ``unproved`` report (sent on the
    onion without a solved puzzle) waits for a moderator to count it (unproved.py) and counts for nothing before."""
    now = utcnow()
    submission = db.session.get(Submission, submission_id)
    if submission is None or not submission.is_live_ad(now) or reason not in Report.REASONS:
        raise NotAllowed("not a published ad")
    note = (note or "").strip()[: Report.NOTE_MAX]
    epoch_id, sealed_note = sealed.seal_for_queue(note) if note else (None, None)  # staff only, like a note
    db.session.add(
        Report(submission_id=submission_id, reason=reason, epoch_id=epoch_id, sealed=sealed_note, unproved=unproved)
    )
    record("reported", submission_id, detail=reason)
    db.session.flush()
    returned = not unproved and settle(submission, threshold)
    db.session.commit()
    return returned


def settle(submission: Submission, threshold: int) -> bool:
    """Send a published ad back to the queue if it has ``threshold`` counted reports since it was published (in
    the caller's transaction). Returns True when it went back."""
    count = db.session.scalar(  # a count is never NULL
        select(func.count(Report.id)).where(
            Report.submission_id == submission.id,
            Report.created_at >= submission.published_at,
            Report.unproved.is_(False),
        )
    )
    if cast("int", count) < threshold:
        return False
    submission_id = submission.id
    returned = (
        cast(
            "CursorResult[Any]",
            db.session.execute(
                update(Submission)
                .where(Submission.id == submission_id, Submission.status == "approved")
                .values(
                    status="pending",
                    queued_at=day_of(utcnow()),  # back in the queue (the day: readers acted)
                    published_at=None,
                    decided_at=None,
                    decided_by_id=None,
                    version=Submission.version + 1,
                )
                .execution_options(synchronize_session=False)
            ),
        ).rowcount
        == 1
    )
    if returned:
        public_copy.erase(submission_id)
        record("returned", submission_id, detail=f"{count} reports")
    return returned
