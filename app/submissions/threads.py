"""The private thread of an item: staff write to the submitter, who reads and answers at /status with the receipt
alone. There is no other channel, and the receipt is the only key: whoever holds it reads the thread.

Messages are plain text (escaped where shown), limited in length and count, added and never edited. They leave the
item's version alone, so an answer arriving never turns a moderator's decision into a conflict. An answer keeps the
day only, as the audit log does for what a submitter does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import func, select, update

from app import erasure
from app.audit import day_of, record
from app.extensions import db
from app.models import Message, Submission, User, utcnow
from app.submissions import clocks, sealed
from app.submissions.create import store_files, undo_files
from app.submissions.decisions import NotAllowed, gone

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

    from app.uploads.intake import Received
    from app.uploads.storage import Storage


def is_open(submission: Submission) -> bool:
    """Messages can be written on a pending item, an open case or an ad; not once it is rejected or done."""
    return submission.status in ("pending", "approved") and submission.done_at is None


def can_answer(submission: Submission) -> bool:
    """The submitter answers a question: there is a staff message to answer, and the thread is open."""
    return is_open(submission) and any(m.from_staff for m in submission.messages) and not full(submission)


def full(submission: Submission) -> bool:
    count = select(func.count()).select_from(Message).where(Message.submission_id == submission.id)
    return cast("int", db.session.scalar(count)) >= Message.PER_ITEM


def write(submission_id: int, user: User, body: str) -> Message:
    """A staff member's message to the submitter; it also marks the submitter's answers as read."""
    submission = db.session.get(Submission, submission_id)
    if submission is None:
        raise gone(submission_id)
    _check(submission, body)
    message = Message(submission_id=submission_id, author_id=user.id, from_staff=True, **_body(submission, body))
    db.session.add(message)
    _set_new_answer(submission_id, False)
    clocks.touch(submission_id)
    record("messaged", submission_id, actor_id=user.id)
    db.session.commit()
    return message


def answer(
    submission: Submission, body: str, *, uploads: Sequence[Received] = (), storage: Storage | None = None
) -> Message:
    """The submitter's answer, with files already checked and scrubbed by the intake; stored together."""
    if not can_answer(submission):
        raise NotAllowed("nothing to answer")
    _check(submission, body)
    written: list[str] = []
    try:
        message = Message(
            submission_id=submission.id, from_staff=False, created_at=day_of(utcnow()), **_body(submission, body)
        )
        for attachment in store_files(uploads, storage, written, public_key=submission.public_key):
            attachment.submission_id = submission.id
            message.attachments.append(attachment)
        db.session.add(message)
        _set_new_answer(submission.id, True)
        clocks.touch(submission.id, day_only=True)
        record("answered", submission.id)
        db.session.commit()
    except BaseException:
        undo_files(storage, written)
        raise
    db.session.refresh(submission)
    return message


def visible_to_sender(submission: Submission) -> list[Message]:
    """The staff messages the receipt still opens (not hidden)."""
    return [m for m in submission.messages if m.from_staff and m.hidden_at is None]


def hide(submission: Submission, opener: sealed.Opener) -> int:
    """The sender hides the staff messages they have read (issue 29): each is sealed again to the queue epoch
    alone, so that a receipt found on a seized phone no longer opens it; staff still read it, marked hidden by the
    sender with the day. New messages arrive as before. The old copies leave the database files (erasure.settle).
    Returns how many were hidden."""
    day = day_of(utcnow())
    hidden = 0
    for message in visible_to_sender(submission):
        text = opener.message(message)
        if text is None:
            continue  # (a sealed message this receipt cannot open yet: app/submissions/rekeys.py)
        epoch_id, value = sealed.seal_for_queue(text)
        statement = (
            update(Message)
            .where(Message.id == message.id, Message.hidden_at.is_(None))
            .values(hidden_at=day, epoch_id=epoch_id, sealed=value, body=None)
        )
        hidden += cast("Any", db.session.execute(statement.execution_options(synchronize_session=False))).rowcount
    if hidden:
        record("hidden", submission.id)
    db.session.commit()
    if hidden:
        erasure.settle(["messages"], texts=False)
        db.session.refresh(submission)
    return hidden


def mark_read(submission_id: int, user: User) -> None:
    """A staff member has read the answers: the item leaves the "new answers" view."""
    if db.session.get(Submission, submission_id) is None:
        raise gone(submission_id)
    if _set_new_answer(submission_id, False):
        record("answers_read", submission_id, actor_id=user.id)
    db.session.commit()


def _body(submission: Submission, body: str) -> dict[str, Any]:
    """A message's text: sealed to the item's key (its receipt holder reads it), in clear for an item from before."""
    text = body.strip()
    sealed_text = sealed.seal_for_item(submission, text)
    return {"body": text} if sealed_text is None else {"sealed": sealed_text}


def _check(submission: Submission, body: str) -> None:
    if not is_open(submission):
        raise NotAllowed("the thread is closed")
    if not (body or "").strip() or len(body.strip()) > Message.BODY_MAX:
        raise NotAllowed("empty or too long")
    if full(submission):
        raise NotAllowed("too many messages")


def _set_new_answer(submission_id: int, value: bool) -> bool:
    """Set the unread mark without touching the version; True if it changed."""
    statement = (
        update(Submission)
        .where(Submission.id == submission_id, Submission.new_answer != value)
        .values(new_answer=value)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", db.session.execute(statement)).rowcount == 1
