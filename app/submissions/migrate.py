"""`flask crypto migrate`: seal what a site stored before sealing (AT-REST.md), with public keys only, while the
site is up.

Each kind of row has its pass, in batches of ids, and a row is sealed only while it is still in clear, by an update
that says so: a run that was killed and started again loses nothing and seals nothing twice.

- Items: a key pair of their own (the secret key sealed to the current epoch; no receipt wrap, since nobody knows
  the code: app/submissions/rekeys.py), and the handle, title, body, city, reject note and the text before an owner's
  edit sealed to it. The update is versioned, so a decision taken meanwhile wins (the item is sealed in the next
  round) and a moderator's page opened before asks to be reloaded.
- Messages, and files' names and hashes: sealed to their item's key, once the item has one.
- Files: each file and its previews are copied, encrypted under a new file key, to new random names; the row
  points at them in one commit; the clear objects are deleted after it. A run killed in between leaves clear
  objects that no row names: `flask uploads gc` removes them, and so does the end of every run. A live ad's photo
  that readers are shown gets its clear public copy, as approval makes one.
- Internal notes and readers' report notes: sealed to the current epoch alone.

What the database files still hold of the clear words is then removed (erasure.compact), by the command.

Why one module: the passes run once, in this order, and share one rule (seal a row only by an update that finds it
still in clear); read together, they show that a run stopped anywhere can be run again.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any, cast

from flask import current_app
from sqlalchemy import CursorResult, exists, func, select, update

from app.audit import record
from app.crypto import epochs, files, items
from app.extensions import db
from app.models import Attachment, Message, Note, QueueEpoch, ReceiptRekey, Report, Submission, utcnow
from app.submissions import sealed
from app.submissions.create import put, undo_files
from app.uploads.storage import Storage, StorageError, new_key, preview_key, public_key_name

ROUNDS = 3  # rows changed while a round ran are sealed by the next one


@dataclass
class Done:
    items: int = 0
    messages: int = 0
    attachments: int = 0  # files whose name and hash were sealed
    stored: int = 0  # stored objects (files and previews) encrypted
    missing: int = 0  # stored objects that were not there (as before the run)
    failed: int = 0  # tries the store failed (the file stays in clear: the next round or run tries again)
    notes: int = 0
    reports: int = 0

    def __add__(self, other: Done) -> Done:
        return Done(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


def in_clear() -> dict[str, int]:
    """What is still to be sealed, by kind of row."""
    return {
        "items": _count(Submission, Submission.public_key.is_(None)),
        "messages": _count(Message, Message.sealed.is_(None), Message.body.is_not(None)),
        "files": _count(Attachment, (Attachment.sealed.is_(None)) | (Attachment.file_key.is_(None))),
        "notes": _count(Note, Note.sealed.is_(None)),
        "report notes": _count(Report, Report.sealed.is_(None), Report.note != ""),
    }


def old_receipts() -> int:
    """Receipts issued before sealing and not used since: their digest is still the old HMAC one."""
    waiting = exists().where(ReceiptRekey.submission_id == Submission.id)
    return _count(Submission, Submission.key_for_receipt.is_(None), ~waiting)


def _count(model: Any, *conditions: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0)


def run(
    storage: Storage | None, *, batch: int = 100, pause: float = 0.0, progress: Callable[[str], None] = print
) -> Done:
    """Seal everything still in clear, in rounds until nothing is left or a round seals nothing more."""
    done = Done()
    for _ in range(ROUNDS):
        if not any(in_clear().values()):
            break
        round_ = Done()
        round_.items = _batches(_seal_items, batch, pause)
        progress(f"Items: {round_.items} sealed.")
        round_.messages = _batches(_seal_messages, batch, pause)
        round_.notes = _batches(_seal_notes, batch, pause)
        round_.reports = _batches(_seal_reports, batch, pause)
        progress(f"Messages, notes, report notes: {round_.messages}, {round_.notes}, {round_.reports} sealed.")
        for ids in _ids(_attachment_ids, batch):
            for attachment_id in ids:
                _seal_attachment(attachment_id, storage, round_)
            progress(f"Files: {round_.attachments} sealed, {round_.stored} stored objects encrypted.")
            time.sleep(pause)
        done += round_
        if not any(getattr(round_, f.name) for f in fields(round_)):
            break
    record("sealed_existing", None, detail=f"{done.items} items, {done.attachments} files")
    db.session.commit()
    return done


# --- walking the rows --------------------------------------------------------------------------------------------


def _ids(query: Callable[[int, int], list[int]], batch: int) -> Iterator[list[int]]:
    after = 0
    while ids := query(after, batch):
        yield ids
        after = ids[-1]


def _batches(seal: Callable[[int, int], tuple[int, int]], batch: int, pause: float) -> int:
    """Run ``seal(after, batch)`` (it answers (rows sealed, last id seen)) until it sees no more rows."""
    sealed_now, after = 0, 0
    while True:
        count, last = seal(after, batch)
        if last == after:
            return sealed_now
        sealed_now, after = sealed_now + count, last
        time.sleep(pause)


def _attachment_ids(after: int, batch: int) -> list[int]:
    query = (
        select(Attachment.id)
        .join(Submission, Submission.id == Attachment.submission_id)
        .where(
            Submission.public_key.is_not(None),
            (Attachment.sealed.is_(None)) | (Attachment.file_key.is_(None)),
            Attachment.id > after,
        )
    )
    return list(db.session.scalars(query.order_by(Attachment.id).limit(batch)))


def _updated(statement: Any) -> bool:
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return cast("CursorResult[Any]", result).rowcount == 1


# --- items -------------------------------------------------------------------------------------------------------


def _seal_items(after: int, batch: int) -> tuple[int, int]:
    query = select(Submission).where(Submission.public_key.is_(None), Submission.id > after).order_by(Submission.id)
    rows = db.session.scalars(query.limit(batch).execution_options(populate_existing=True)).all()
    epoch = epochs.current()
    count = sum(_seal_item(submission, epoch) for submission in rows)
    db.session.commit()
    return count, rows[-1].id if rows else after


def _seal_item(submission: Submission, epoch: QueueEpoch) -> bool:
    public, for_queue = items.migrated_item(epoch.public_key)
    texts = sealed.Texts(submission.telegram, submission.title, submission.body or "", submission.city)
    values: dict[str, Any] = {
        "epoch_id": epoch.id,
        "public_key": public,
        "key_for_queue": for_queue,
        "sealed": items.seal(public, texts.to_json()),
        **dict.fromkeys(sealed.FIELDS),
    }
    if submission.reject_note is not None:
        values |= {"sealed_reject_note": items.seal(public, submission.reject_note), "reject_note": None}
    if submission.before_edit is not None:
        values |= {"sealed_before_edit": items.seal(public, json.loads(submission.before_edit)), "before_edit": None}
    # Not if it was decided meanwhile (its version moved on): the next round seals it as it is then.
    statement = update(Submission).where(
        Submission.id == submission.id,
        Submission.version == submission.version,
        Submission.public_key.is_(None),
    )
    return _updated(statement.values(version=Submission.version + 1, **values))


# --- what belongs to an item, and what only staff read -----------------------------------------------------------


def _seal_messages(after: int, batch: int) -> tuple[int, int]:
    rows = db.session.execute(
        select(Message.id, Message.body, Submission.public_key)
        .join(Submission, Submission.id == Message.submission_id)
        .where(Message.id > after, Message.sealed.is_(None), Message.body.is_not(None))
        .order_by(Message.id)
        .limit(batch)
    ).all()
    count = 0
    for message_id, body, public in rows:
        if public is None:
            continue  # its item is sealed first (a later round)
        statement = update(Message).where(Message.id == message_id, Message.sealed.is_(None))
        count += _updated(statement.values(sealed=items.seal(public, body), body=None))
    db.session.commit()
    return count, rows[-1][0] if rows else after


def _seal_notes(after: int, batch: int) -> tuple[int, int]:
    rows = db.session.execute(
        select(Note.id, Note.body).where(Note.id > after, Note.sealed.is_(None)).order_by(Note.id).limit(batch)
    ).all()
    count = 0
    for note_id, body in rows:
        epoch_id, value = sealed.seal_for_queue(body or "")
        statement = update(Note).where(Note.id == note_id, Note.sealed.is_(None))
        count += _updated(statement.values(epoch_id=epoch_id, sealed=value, body=None))
    db.session.commit()
    return count, rows[-1][0] if rows else after


def _seal_reports(after: int, batch: int) -> tuple[int, int]:
    rows = db.session.execute(
        select(Report.id, Report.note)
        .where(Report.id > after, Report.sealed.is_(None), Report.note != "")
        .order_by(Report.id)
        .limit(batch)
    ).all()
    count = 0
    for report_id, note in rows:
        epoch_id, value = sealed.seal_for_queue(note)
        statement = update(Report).where(Report.id == report_id, Report.sealed.is_(None))
        count += _updated(statement.values(epoch_id=epoch_id, sealed=value, note=""))
    db.session.commit()
    return count, rows[-1][0] if rows else after


# --- files -------------------------------------------------------------------------------------------------------


def _seal_attachment(attachment_id: int, storage: Storage | None, done: Done) -> None:
    attachment = db.session.get(Attachment, attachment_id, populate_existing=True)
    if attachment is None:
        return
    submission = attachment.submission
    public = submission.public_key
    if public is None:
        return
    values: dict[str, Any] = {}
    # As it was read: the same stored file, shown or not, and its item not decided, closed or renewed meanwhile.
    conditions = [
        Attachment.id == attachment.id,
        Attachment.storage_key == attachment.storage_key,
        Attachment.public == attachment.public,
        exists().where(Submission.id == submission.id, Submission.version == submission.version),
    ]
    if attachment.sealed is None:
        seal = sealed.attachment_seal(public, attachment.original_name or "", attachment.sha256 or "")
        values |= {"sealed": seal, "original_name": None, "sha256": None}
        conditions.append(Attachment.sealed.is_(None))
    written: list[str] = []
    old: list[str] = []
    missing = 0
    try:
        if attachment.file_key is None:
            conditions.append(Attachment.file_key.is_(None))
            storage = cast("Storage", storage)  # a file row: there is a store
            file_key, key = files.new_key(), new_key()
            shown = (
                attachment.public and attachment.content_type.startswith("image/") and submission.is_live_ad(utcnow())
            )
            for index in range(1 + attachment.previews):
                source = attachment.storage_key if index == 0 else preview_key(attachment.storage_key, index - 1)
                target = key if index == 0 else preview_key(key, index - 1)
                part = "file" if index == 0 else f"preview{index - 1}"
                with _fetched(storage, source) as path:
                    if path is None:
                        missing += 1
                        continue
                    if shown and index < 2:  # what readers are sent: the photo and its thumbnail, in clear
                        written.append(public_key_name(key, thumb=index == 1))
                        storage.put_file(path, written[-1])
                    written.append(target)
                    put(storage, path, target, encrypt_with=files.part_key(file_key, part))
                old.append(source)
            values |= {"storage_key": key, "file_key": files.seal_key(public, file_key)}
        if not _updated(update(Attachment).where(*conditions).values(**values)):  # changed meanwhile: a later round
            undo_files(storage, written)
            return
        db.session.commit()
    except StorageError:  # the store failed (not "no such file"): nothing changes, a later round or run tries again
        undo_files(storage, written)
        done.failed += 1
        return
    except BaseException:
        undo_files(storage, written)
        raise
    done.attachments += "sealed" in values
    done.stored += len(old)
    done.missing += missing
    for name in old:  # (one left behind is no row's: gc removes it)
        with contextlib.suppress(StorageError):
            cast("Storage", storage).delete(name)


@contextlib.contextmanager
def _fetched(storage: Storage, name: str) -> Iterator[str | None]:
    """A stored object, copied to the work folder (RAM) and removed afterwards; None if the store says it is not
    there."""
    folder = current_app.config["UPLOAD_WORKDIR"]
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="migrate-")
    try:
        try:
            with os.fdopen(fd, "wb") as out, storage.open(name) as stored:
                while piece := stored.read(files.READ):
                    out.write(piece)
        except FileNotFoundError:  # (a store that fails raises StorageError: that is no answer)
            yield None
            return
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
