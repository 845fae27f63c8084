"""What a submitter does with their receipt: withdraw (a hard delete, files included), and for an ad renew or
close. No staff user, so no version check against a moderator's decision; each is one conditional UPDATE."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from app import erasure
from app.audit import record
from app.extensions import db
from app.models import Submission, utcnow
from app.uploads.storage import derived_keys


def withdraw(submission: Submission, storage) -> None:
    """Delete a submission and its files for good at its submitter's request; the audit keeps only the id."""
    keys = [k for a in submission.attachments for k in (a.storage_key, *derived_keys(a.storage_key))]
    record("withdrawn", submission.id, detail=submission.kind)
    db.session.delete(submission)
    db.session.commit()
    # After the commit: a crash here leaves files that no row names, which `flask uploads gc` removes.
    for key in keys:
        storage.delete(key)
    erasure.settle()


def _owner_change(submission: Submission, action: str, values: dict) -> bool:
    """Change a published ad for its owner if it is still approved and open; record it. False if not."""
    statement = (
        update(Submission)
        .where(
            Submission.id == submission.id,
            Submission.kind == "ad",
            Submission.status == "approved",
            Submission.closed_at.is_(None),
        )
        .values(version=Submission.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if db.session.execute(statement).rowcount != 1:
        db.session.rollback()
        return False
    record(action, submission.id)
    db.session.commit()
    db.session.refresh(submission)
    return True


def renew(submission: Submission) -> bool:
    """Keep an approved ad up for another AD_DAYS from today (also after it has expired)."""
    return _owner_change(submission, "renewed", {"expires_at": utcnow() + timedelta(days=Submission.AD_DAYS)})


def close(submission: Submission) -> bool:
    """Take an ad off the site for good at its owner's request; it stays until purged or withdrawn."""
    return _owner_change(submission, "closed", {"closed_at": utcnow()})
