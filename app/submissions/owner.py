"""What a submitter does with their receipt: withdraw (a hard delete, files included), and for an ad renew, close
or edit. No staff user; each is one conditional UPDATE, which bumps the version, so that a moderator acting on what
they saw before an owner's edit gets a conflict."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import update

from app.audit import record
from app.extensions import db
from app.models import Submission, utcnow
from app.submissions.decisions import EDITABLE
from app.submissions.retention import erase

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

    from app.uploads.storage import Storage

EXPIRY_WARNING_DAYS = 3


def withdraw(submission: Submission, storage: Storage) -> None:
    """Delete a submission, its files and its thread for good at its submitter's request; the audit keeps the id."""
    erase(submission, storage, "withdrawn", detail=submission.kind)


def edit(submission: Submission, changes: dict[str, Any]) -> bool | None:
    """Change an ad's text for its owner and send it back to the queue, keeping what it said before for the
    moderator's comparison. None if nothing changed; False if the ad can no longer be edited."""
    changed = {k: v for k, v in changes.items() if k in EDITABLE and v != getattr(submission, k)}
    if not changed:
        return None
    before = json.dumps({k: getattr(submission, k) for k in EDITABLE}, ensure_ascii=False)
    statement = (
        update(Submission)
        .where(
            Submission.id == submission.id,
            Submission.owner_may_edit,
        )
        .values(
            version=Submission.version + 1,
            status="pending",
            before_edit=before,
            decided_at=None,
            decided_by_id=None,
            reject_reason=None,
            reject_note=None,
            published_at=None,
            expires_at=None,
            **changed,
        )
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", db.session.execute(statement)).rowcount != 1:
        db.session.rollback()
        return False
    record("resubmitted", submission.id, detail="changed: " + ", ".join(sorted(changed)))
    db.session.commit()
    db.session.refresh(submission)
    return True


@dataclass
class Change:
    field: str
    parts: list[tuple[str, str]]  # ("same" | "removed" | "added", text)


def changes_by_owner(submission: Submission) -> list[Change]:
    """What the owner's edit changed, field by field, word by word: for the moderator who reviews it."""
    if not submission.before_edit:
        return []
    before = json.loads(submission.before_edit)
    result = []
    for name in EDITABLE:
        old, new = before.get(name) or "", getattr(submission, name) or ""
        if old != new:
            result.append(Change(name, word_diff(old, new)))
    return result


def word_diff(old: str, new: str) -> list[tuple[str, str]]:
    a, b = old.split(" "), new.split(" ")
    parts = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            parts.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            parts.append(("removed", " ".join(a[i1:i2])))
        if j2 > j1:
            parts.append(("added", " ".join(b[j1:j2])))
    return parts


def expires_soon(submission: Submission) -> bool:
    """A live ad with less than EXPIRY_WARNING_DAYS left: /status says so beside the renew button."""
    now = utcnow()
    # a live ad has an expiry
    return submission.is_live_ad(now) and cast("datetime", submission.expires_at) - now < timedelta(
        days=EXPIRY_WARNING_DAYS
    )


def _owner_change(submission: Submission, action: str, values: dict[str, Any]) -> bool:
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
    if cast("CursorResult[Any]", db.session.execute(statement)).rowcount != 1:
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
