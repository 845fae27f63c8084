"""Following up what was taken on: information and contacts become cases, assigned to a staff member, noted, and
marked done, which can forget the submitter's Telegram username at once.

Assigning and marking done are version-checked like every decision (decisions.change): a stale one is a Conflict
that says who did what. Notes are added, never edited, and leave the version alone, as messages do (threads.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select

from app import erasure
from app.audit import record
from app.extensions import db
from app.models import Note, Submission, User, utcnow
from app.submissions import clocks, sealed
from app.submissions.decisions import Conflict, Locked, NotAllowed, Result, change, gone

if TYPE_CHECKING:
    from app.submissions.sealed import Texts

# The item is an open case: information or a contact taken on and not yet done.


def assignees() -> list[User]:
    """The staff members a case can be given to: active accounts that moderate."""
    query = select(User).where(User.active.is_(True), User.role.in_(("moderator", "admin")))
    return list(db.session.scalars(query.order_by(User.username)))


def assign(submission_id: int, seen_version: int, user: User, assignee_id: int) -> Result:
    """Give an open case to a colleague (or to oneself)."""
    assignee = db.session.get(User, assignee_id)
    if assignee is None or not (assignee.active and assignee.can("moderate")):
        raise NotAllowed("not someone who can follow a case up")
    values = {"assigned_to_id": assignee.id, "touched_at": utcnow()}  # worked on: its clock starts again
    return _case_change(submission_id, seen_version, user, "assigned", values, detail=assignee.username)


def done(
    submission_id: int, seen_version: int, user: User, *, forget_contact: bool = False, texts: Texts | None = None
) -> Result:
    """Close a case. With ``forget_contact`` the Telegram username goes at once, with the duplicate check's digest
    (made from it), and the database files are cleared of it as after a withdrawal: the sealed fields are sealed
    again without it, from ``texts`` (as the staff member opened them: Locked without them). The text stays until
    CASE_RETENTION_DAYS have passed (retention.py)."""
    values: dict[str, Any] = {"done_at": utcnow()}
    if forget_contact:
        current = db.session.get(Submission, submission_id)
        if current is None:
            raise gone(submission_id)
        if sealed.is_sealed(current) and texts is None:
            raise Locked("the username is sealed with the text")
        kept = texts.changed(telegram=None) if texts is not None else None
        values |= {"telegram": None, "dedupe_digest": None}
        if kept is not None and sealed.is_sealed(current):
            values |= sealed.fields_columns(current, kept)
    result = _case_change(submission_id, seen_version, user, "forgotten" if forget_contact else "done", values)
    if forget_contact:
        erasure.settle(["submissions"])  # (the row's old version, with the username, is a dead row there)
    return result


def _case_change(
    submission_id: int, seen_version: int, user: User, action: str, values: dict[str, Any], **kwargs: Any
) -> Result:
    try:
        return change(submission_id, seen_version, user, action, values, extra=Submission.is_open_case, **kwargs)
    except Conflict as conflict:
        if conflict.submission is not None and conflict.submission.version == seen_version:
            raise NotAllowed("not an open case") from None  # as the user saw it: nobody changed it meanwhile
        raise


def add_note(submission_id: int, user: User, body: str) -> Note:
    """An internal note: staff only, never shown to the submitter. Its audit event holds no text."""
    if db.session.get(Submission, submission_id) is None:
        raise gone(submission_id)
    body = (body or "").strip()[: Note.BODY_MAX]
    if not body:
        raise NotAllowed("empty note")
    notes = select(func.count()).select_from(Note).where(Note.submission_id == submission_id)
    if cast("int", db.session.scalar(notes)) >= Note.PER_ITEM:
        raise NotAllowed("too many notes")
    epoch_id, sealed_body = sealed.seal_for_queue(body)  # staff only: a receipt opens no note
    note = Note(submission_id=submission_id, author_id=user.id, epoch_id=epoch_id, sealed=sealed_body)
    db.session.add(note)
    clocks.touch(submission_id)
    record("noted", submission_id, actor_id=user.id)
    db.session.commit()
    return note
