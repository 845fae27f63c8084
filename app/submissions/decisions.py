"""Staff decisions on submissions: claim, approve (for information and contacts: take it on), reject, edit, undo,
spam. With owner.py and reports.py, the only code that changes a status; cases.py follows a case up with the same
version-checked change.

Every action names the version of the item it saw. The change is one conditional UPDATE
(``WHERE id = :id AND version = :seen``), so of two moderators acting at once exactly one wins and
the other gets a Conflict that says who did what, and when. Every action is an audit event.

Why one module: every decision goes through the same version-checked change() and answers with the same Conflict,
NotAllowed and Locked; split up, each part would import the others' rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, and_, update
from sqlalchemy.sql.elements import SQLCoreOperations

from app import labels
from app.audit import latest_event, record
from app.extensions import db
from app.models import Attachment, Event, Submission, User, utcnow
from app.submissions import public_copy, sealed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy import CursorResult

    from app.submissions.sealed import Opener, Texts

CLAIM_MINUTES = 10
UNDO_SECONDS = 10
EDITABLE = ("title", "category", "city", "body")


class Conflict(Exception):
    """Someone else acted first (or holds the item). ``event`` is what they did, if anything."""

    def __init__(self, submission: Submission | None, event: Event | None = None, claimed: bool = False):
        super().__init__("conflict")
        self.submission = submission
        self.event = event
        self.claimed = claimed


class NotAllowed(Exception):
    """The action does not apply to the item as it is (e.g. undo after the undo window)."""


class Locked(NotAllowed):
    """The action needs the item's words, and this staff member's key does not open them (an epoch not granted,
    or a session that is not unlocked)."""


@dataclass
class Result:
    submission: Submission
    event: Event | None  # None: an edit that changed nothing


def _free_for(user: User, now: datetime) -> ColumnElement[bool]:
    """The item is not claimed by someone else right now."""
    return ~Submission.claimed_by_other(user.id, now)


def change(
    submission_id: int,
    seen_version: int,
    user: User,
    action: str,
    values: dict[str, Any],
    *,
    now: datetime | None = None,
    extra: ColumnElement[bool] | SQLCoreOperations[bool] | None = None,
    detail: str = "",
    then: Callable[[], None] | None = None,
) -> Result:
    """Apply ``values`` if the item is still as the user saw it (and not claimed by another at ``now``); record the
    event; commit. ``then`` runs in the same transaction, after the item has changed.
    """
    now = now or utcnow()
    conditions: list[ColumnElement[bool] | SQLCoreOperations[bool]] = [
        Submission.id == submission_id,
        Submission.version == seen_version,
        _free_for(user, now),
    ]
    if extra is not None:
        conditions.append(extra)
    statement = (
        update(Submission)
        .where(and_(*conditions))
        .values(version=Submission.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", db.session.execute(statement)).rowcount != 1:
        db.session.rollback()
        raise _conflict(submission_id, user, now)
    if then is not None:
        try:
            then()
        except BaseException:
            db.session.rollback()  # (and what it wrote outside the database goes with it: public_copy)
            raise
    event = record(action, submission_id, actor_id=user.id, detail=detail)
    db.session.commit()
    # the row was just changed in this transaction
    submission = cast("Submission", db.session.get(Submission, submission_id, populate_existing=True))
    return Result(submission, event)


def gone(submission_id: int) -> Conflict:
    """The item no longer exists: say what happened to it last, if the log knows."""
    return Conflict(None, latest_event(submission_id))


def _conflict(submission_id: int, user: User, now: datetime) -> Conflict:
    submission = db.session.get(Submission, submission_id, populate_existing=True)
    if submission is None:
        return gone(submission_id)
    if submission.claimed_by_other(user.id, now):
        return Conflict(submission, claimed=True)
    return Conflict(submission, latest_event(submission_id))


def claim(submission_id: int, user: User) -> Submission:
    """Hold an item for CLAIM_MINUTES so that no one else acts on it meanwhile."""
    now = utcnow()
    statement = (
        update(Submission)
        .where(Submission.id == submission_id, Submission.status == "pending", _free_for(user, now))
        .values(claimed_by_id=user.id, claimed_until=now + timedelta(minutes=CLAIM_MINUTES))
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", db.session.execute(statement)).rowcount != 1:
        db.session.rollback()
        raise _conflict(submission_id, user, now)
    record("claimed", submission_id, actor_id=user.id)
    db.session.commit()
    return cast("Submission", db.session.get(Submission, submission_id, populate_existing=True))  # just claimed


def release(submission_id: int, user: User) -> None:
    """Give back an item this user holds."""
    db.session.execute(
        update(Submission)
        .where(Submission.id == submission_id, Submission.claimed_by_id == user.id)
        .values(claimed_by_id=None, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def approve(
    submission_id: int,
    seen_version: int,
    user: User,
    public_images: Iterable[int | str] = (),
    opener: Opener | None = None,
    now: datetime | None = None,
) -> Result:
    """Approve a pending item. An ad is published until it expires, with a public copy of its words and of the
    images chosen here, opened by ``opener`` (the moderator's key: Locked if it does not open them); information
    or a contact is taken on: it becomes a case, open and assigned to the one who took it on.

    Only images named in ``public_images`` are shown to readers; every other file stays staff-only.
    """
    now = now or utcnow()  # (a batch gives all its items one time: one undo window)
    current = db.session.get(Submission, submission_id)
    if current is None:
        raise gone(submission_id)
    kind = current.kind
    texts = opener.texts(current) if opener is not None else None
    if kind == "ad" and (texts is None or opener is None):
        raise Locked("an ad is published from its words")
    values = {
        "status": "approved",
        "unproved": False,  # (read and taken on: out of the tab "sent without the puzzle" for good, unproved.py)
        "decided_at": now,
        "decided_by_id": user.id,
        "claimed_by_id": None,
        "claimed_until": None,
        "before_edit": None,
        "sealed_before_edit": None,
    }
    chosen = {int(i) for i in public_images} if kind == "ad" else set()
    if kind == "ad":
        values |= {"published_at": now, "expires_at": now + timedelta(days=Submission.AD_DAYS)}
    else:
        values |= {"assigned_to_id": user.id, "done_at": None, "touched_at": now}  # a case: its clock starts

    def publish() -> None:
        db.session.execute(
            update(Attachment)
            .where(Attachment.submission_id == submission_id)
            .values(public=Attachment.id.in_(chosen) & Attachment.content_type.startswith("image/"))
            .execution_options(synchronize_session=False)
        )
        if kind == "ad" and texts is not None and opener is not None:
            public_copy.publish(current, texts, opener, chosen)

    try:
        return change(
            submission_id,
            seen_version,
            user,
            "approved" if kind == "ad" else "taken_on",
            values,
            now=now,
            extra=Submission.status == "pending",
            then=publish,
            detail=f"{len(chosen)} images public" if chosen else "",
        )
    except public_copy.Unopened:
        raise NotAllowed("a photo of this ad does not open") from None


def reject(
    submission_id: int, seen_version: int, user: User, reason: str, note: str = "", now: datetime | None = None
) -> Result:
    """Reject a pending item with a reason the submitter reads at /status. "Needs changes" (ads only) lets the owner
    edit the ad at /status and send it back (owner.edit)."""
    if reason not in labels.REJECT_REASONS:
        raise NotAllowed("unknown reason")
    extra = Submission.status == "pending"
    if reason in labels.AD_ONLY_REASONS:
        extra = and_(extra, Submission.kind == "ad")
    now = now or utcnow()
    current = db.session.get(Submission, submission_id)
    if current is None:
        raise gone(submission_id)
    note = (note or "").strip()[: Submission.NOTE_MAX]
    sealed_note = sealed.seal_for_item(current, note) if note else None
    values = {
        "status": "rejected",
        "decided_at": now,
        "decided_by_id": user.id,
        "reject_reason": reason,
        "reject_note": None if sealed_note is not None else (note or None),  # (in clear in a row from before)
        "sealed_reject_note": sealed_note,
        "claimed_by_id": None,
        "claimed_until": None,
        "before_edit": None,
        "sealed_before_edit": None,
    }
    try:
        return change(submission_id, seen_version, user, "rejected", values, now=now, extra=extra, detail=reason)
    except Conflict as conflict:
        # As the user saw it, and held by nobody else: the reason did not fit the item.
        if conflict.submission is not None and conflict.submission.version == seen_version and not conflict.claimed:
            raise NotAllowed("this reason is for ads") from None
        raise


def edit_ad(submission_id: int, seen_version: int, user: User, changes: dict[str, Any], texts: Texts | None) -> Result:
    """Change an ad's text before it is approved, from ``texts`` (its words as the moderator opened them: Locked
    without them); the event names the fields, never their content."""
    current = db.session.get(Submission, submission_id)
    if current is None:
        raise gone(submission_id)
    if current.kind != "ad":
        raise NotAllowed("only ads are edited")
    if texts is None:
        raise Locked("an ad is edited from its words")
    before = sealed.values(current, texts, EDITABLE)
    changed = {k: v for k, v in changes.items() if k in EDITABLE and v != before[k]}
    if not changed:
        return Result(current, None)
    return change(
        submission_id,
        seen_version,
        user,
        "edited",
        sealed.changed_columns(current, texts, changed),
        extra=Submission.status == "pending",
        detail="changed: " + ", ".join(sorted(changed)),
    )


def undo(submission_id: int, seen_version: int, user: User) -> Result:
    """Take back one's own decision within UNDO_SECONDS: the item returns to the queue."""
    now = utcnow()
    window = and_(
        Submission.status.in_(("approved", "rejected")),
        Submission.done_at.is_(None),  # a case already marked done (its contact perhaps forgotten) stays done
        Submission.decided_by_id == user.id,
        Submission.decided_at >= now - timedelta(seconds=UNDO_SECONDS),
    )
    values = {
        "status": "pending",
        "decided_at": None,
        "decided_by_id": None,
        "reject_reason": None,
        "reject_note": None,
        "sealed_reject_note": None,
        "published_at": None,
        "expires_at": None,
        "assigned_to_id": None,
    }
    try:
        return change(
            submission_id,
            seen_version,
            user,
            "undone",
            values,
            now=now,
            extra=window,
            then=lambda: public_copy.erase(submission_id),
        )
    except Conflict as conflict:
        if conflict.submission is not None and conflict.submission.version == seen_version:
            raise NotAllowed("the undo window has passed") from None
        raise
