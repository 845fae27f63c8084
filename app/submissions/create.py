"""Creating submissions and finding them by receipt. Knows nothing of requests."""

import contextlib
import hashlib
import hmac
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import select

from app import receipts
from app.audit import record
from app.extensions import db
from app.models import Attachment, Submission, utcnow
from app.uploads.intake import Received
from app.uploads.storage import Storage, StorageError, new_key, preview_key


def create(
    kind: str,
    fields: dict[str, Any],
    *,
    locale: str,
    receipt_key: bytes,
    uploads: Sequence[Received] = (),
    storage: Storage | None = None,
) -> str:
    """Store a pending submission, its files and its audit event together; return the receipt code.

    Files are written first; if anything fails before the commit, they are removed again,
    so no file outlives a submission that was never stored.
    """
    code = receipts.new_code()
    written: list[str] = []
    try:
        submission = Submission(
            kind=kind, status="pending", locale=locale, receipt_digest=receipts.digest(code, receipt_key), **fields
        )
        submission.attachments.extend(store_files(uploads, storage, written))
        db.session.add(submission)
        db.session.flush()
        record("submitted", submission.id, detail=kind)
        db.session.commit()
    except BaseException:
        undo_files(storage, written)
        raise
    return code


def store_files(uploads: Sequence[Received], storage: Storage | None, written: list[str]) -> list[Attachment]:
    """Write scrubbed files and their previews to the store; return their rows (not yet added to the session).

    Every key written is appended to ``written``, so that the caller can remove them if its commit fails.
    """
    rows = []
    for upload in uploads:
        key = new_key()
        storage = cast("Storage", storage)  # files come with a store; only a form without files passes None
        storage.put_file(upload.clean_path, key)
        written.append(key)
        for index, path in enumerate(upload.previews):
            storage.put_file(path, preview_key(key, index))
            written.append(preview_key(key, index))
        rows.append(
            Attachment(
                storage_key=key,
                original_name=upload.name,
                content_type=upload.type,
                size=upload.size,
                sha256=upload.sha256,
                width=upload.width,
                height=upload.height,
                previews=len(upload.previews),
            )
        )
    return rows


def undo_files(storage: Storage | None, written: list[str]) -> None:
    """Roll back a failed store: the transaction, and the files it would have named."""
    db.session.rollback()
    for key in written:
        storage = cast("Storage", storage)  # a key was written, so there is a store
        # A store failing again here must not hide the first error; `flask uploads gc` removes the rest.
        with contextlib.suppress(StorageError):
            storage.delete(key)


def dedupe_digest(kind: str, telegram: str, body: str, *, key: bytes) -> str:
    """The same kind, handle and text (ignoring case and spacing) give the same digest."""
    text = " ".join((body or "").casefold().split())
    return hmac.new(key, f"{kind}\0{telegram.lower()}\0{text}".encode(), hashlib.sha256).hexdigest()


def is_duplicate(digest: str) -> bool:
    """Was the same thing sent within the last DUPLICATE_MINUTES?"""
    since = utcnow() - timedelta(minutes=Submission.DUPLICATE_MINUTES)
    query = select(Submission.id).where(Submission.dedupe_digest == digest, Submission.created_at >= since)
    return db.session.scalar(query.limit(1)) is not None


def find(code_text: str, *, receipt_key: bytes) -> Submission | None:
    """Return the submission a typed receipt code belongs to, or None."""
    code = receipts.parse(code_text)
    if code is None:
        return None
    digest = receipts.digest(code, receipt_key)
    return db.session.scalar(select(Submission).where(Submission.receipt_digest == digest))
