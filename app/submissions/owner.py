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

from app.audit import day_of, record
from app.extensions import db
from app.models import Submission, utcnow
from app.submissions import public_copy, sealed
from app.submissions.decisions import EDITABLE
from app.submissions.retention import erase

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import CursorResult

    from app.submissions.sealed import Opened, Opener, Texts
    from app.uploads.storage import Storage

EXPIRY_WARNING_DAYS = 3


def withdraw(submission: Submission, storage: Storage) -> None:
    """Delete a submission, its files and its thread for good at its submitter's request; the audit keeps the id."""
    erase(submission, storage, "withdrawn", detail=submission.kind)


def edit(submission: Submission, changes: dict[str, Any], texts: Texts) -> bool | None:
    """Change an ad's text (``texts``, as its owner's receipt opened them) and send it back to the queue, keeping
    what it said before for the moderator's comparison, sealed like the text. None if nothing changed; False if the
    ad can no longer be edited."""
    before = sealed.values(submission, texts, EDITABLE)
    changed = {k: v for k, v in changes.items() if k in EDITABLE and v != before[k]}
    if not changed:
        return None
    kept: dict[str, str | bytes | None]
    if sealed.is_sealed(submission):
        kept = {"before_edit": None, "sealed_before_edit": sealed.seal_for_item(submission, before)}
    else:
        kept = {"before_edit": json.dumps(before, ensure_ascii=False)}
    statement = (
        update(Submission)
        .where(
            Submission.id == submission.id,
            Submission.version == submission.version,  # as its words were read (sealed meanwhile: not in clear)
            Submission.owner_may_edit,
        )
        .values(
            version=Submission.version + 1,
            status="pending",
            unproved=False,  # (a moderator read it once: it comes back to the queue, not to the tab of the onion)
            queued_at=day_of(utcnow()),  # back in the queue: its clock starts again (the day: a submitter acted)
            decided_at=None,
            decided_by_id=None,
            reject_reason=None,
            reject_note=None,
            sealed_reject_note=None,
            published_at=None,
            expires_at=None,
            **kept,
            **sealed.changed_columns(submission, texts, changed),
        )
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", db.session.execute(statement)).rowcount != 1:
        db.session.rollback()
        return False
    public_copy.erase(submission.id)
    record("resubmitted", submission.id, detail="changed: " + ", ".join(sorted(changed)))
    db.session.commit()
    db.session.refresh(submission)
    return True


@dataclass
class Change:
    field: str
    parts: list[tuple[str, str]]  # ("same" | "removed" | "added", text)


def changes_by_owner(opened: Opened) -> list[Change]:
    """What the owner's edit changed, field by field, word by word: for the moderator who reviews it (nothing when
    the item is locked to them)."""
    before = opened.opener.before_edit(opened.submission)
    if not before or opened.texts is None:
        return []
    result = []
    now = sealed.values(opened.submission, opened.texts, EDITABLE)
    for name in EDITABLE:
        old, new = before.get(name) or "", now[name] or ""
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


def _owner_change(
    submission: Submission, action: str, values: dict[str, Any], then: Callable[[], None] | None = None
) -> bool:
    """Change a published ad for its owner if it is still approved and open; record it. False if not. ``then`` runs
    in the same transaction, after the change."""
    statement = (
        update(Submission)
        .where(
            Submission.id == submission.id,
            Submission.version == submission.version,  # as it was read (its words and files may be written again)
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
    if then is not None:
        try:
            then()
        except BaseException:
            db.session.rollback()
            raise
    record(action, submission.id)
    db.session.commit()
    db.session.refresh(submission)
    return True


def renew(submission: Submission, opener: Opener) -> bool:
    """Keep an approved ad up for another AD_DAYS from today (also after it has expired). An ad whose public copy
    was erased once it expired gets it again, its words and shown photos opened with ``opener`` (the owner's
    receipt); False, and nothing changes, if they do not open."""
    missing = submission.public_copy is None
    texts = opener.texts(submission)
    if missing and texts is None:
        return False
    shown = [photo.id for photo in submission.public_images]

    def rewrite() -> None:
        if missing and texts is not None:
            public_copy.publish(submission, texts, opener, shown)

    try:
        return _owner_change(
            submission, "renewed", {"expires_at": utcnow() + timedelta(days=Submission.AD_DAYS)}, then=rewrite
        )
    except public_copy.Unopened:
        return False


def close(submission: Submission) -> bool:
    """Take an ad off the site for good at its owner's request; it stays until purged or withdrawn. Its public copy
    goes at once."""
    return _owner_change(submission, "closed", {"closed_at": utcnow()}, then=lambda: public_copy.erase(submission.id))
