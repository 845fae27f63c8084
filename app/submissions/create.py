"""Creating submissions and finding them by receipt. Knows nothing of requests.

What the sender wrote is sealed on arrival (sealed.py): the handle, title, body and city to the item's own key,
which is sealed to the current queue epoch and closed under the receipt key; the files' names and hashes too. This
code holds public keys only, and the receipt key of the item it makes.
"""

import contextlib
import hashlib
import hmac
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from flask import current_app
from sqlalchemy import select, update

from app import receipts
from app.audit import record
from app.crypto import files
from app.crypto import receipts as receipt_keys
from app.extensions import db
from app.models import Attachment, Submission, utcnow
from app.security import legacy_receipt_key
from app.submissions import rekeys, sealed
from app.uploads.intake import Received
from app.uploads.storage import Storage, StorageError, new_key, preview_key


def create(
    kind: str,
    fields: dict[str, Any],
    *,
    locale: str,
    uploads: Sequence[Received] = (),
    storage: Storage | None = None,
    receipt: receipt_keys.Ahead | None = None,
) -> str:
    """Store a pending submission, its files and its audit event together; return the receipt code.

    Files are written first; if anything fails before the commit, they are removed again,
    so no file outlives a submission that was never stored. receipt_keys.Busy (no turn to derive the receipt in
    time) leaves nothing behind either. ``receipt``: the new receipt, its derivation perhaps started already (by a
    form, while its files were scrubbed); by default one is made here.
    """
    receipt = receipt or receipt_keys.Ahead(receipts.new_code())
    code = receipt.code
    written: list[str] = []
    texts = sealed.Texts.of(fields) or sealed.Texts()
    fields = {name: value for name, value in fields.items() if name not in sealed.FIELDS}
    try:
        derived = receipt.result()
        forget_duplicates()
        submission = Submission(
            kind=kind,
            status="pending",
            locale=locale,
            receipt_digest=derived.lookup,
            **sealed.new_item_columns(texts, derived.key),
            **fields,
        )
        submission.attachments.extend(store_files(uploads, storage, written, public_key=submission.public_key))
        db.session.add(submission)
        db.session.flush()
        record("submitted", submission.id, detail=kind)
        db.session.commit()
    except BaseException:
        undo_files(storage, written)
        raise
    return code


def store_files(
    uploads: Sequence[Received], storage: Storage | None, written: list[str], *, public_key: bytes | None
) -> list[Attachment]:
    """Write scrubbed files and their previews to the store; return their rows (not yet added to the session).

    For an item sealed to ``public_key``, each file gets a key of its own, sealed to it: the file and its previews
    are stored encrypted, and its name and hash sealed (in clear for an item stored before sealing). Every key
    written is appended to ``written``, so that the caller can remove them if its commit fails.
    """
    rows = []
    for upload in uploads:
        key = new_key()
        storage = cast("Storage", storage)  # files come with a store; only a form without files passes None
        paths = upload.encrypted or [upload.clean_path, *upload.previews]
        names = [key, *(preview_key(key, index) for index in range(len(paths) - 1))]
        ready = bool(upload.encrypted)  # finished through /uploads: encrypted under the file's own key already
        file_key = upload.file_key if ready else (files.new_key() if public_key is not None else None)
        for index, (path, name) in enumerate(zip(paths, names, strict=True)):
            part = files.part_key(file_key, "file" if index == 0 else f"preview{index - 1}") if file_key else None
            if public_key is not None:
                put(storage, path, name, encrypt_with=None if ready else part)
            else:  # an item stored before sealing keeps its files in clear
                put(storage, path, name, decrypt_with=part if ready else None)
            written.append(name)
        if public_key is None:
            named: dict[str, Any] = {"original_name": upload.name, "sha256": upload.sha256}
        else:
            named = {
                "sealed": sealed.attachment_seal(public_key, upload.name, upload.sha256),
                "file_key": files.seal_key(public_key, cast("bytes", file_key)),
            }
        rows.append(
            Attachment(
                storage_key=key,
                content_type=upload.type,
                size=upload.size,
                width=upload.width,
                height=upload.height,
                previews=len(paths) - 1,
                **named,
            )
        )
    return rows


def put(
    storage: Storage, path: str, name: str, *, encrypt_with: bytes | None = None, decrypt_with: bytes | None = None
) -> None:
    """Store the file at ``path`` under ``name``: as it is, or encrypted under ``encrypt_with``, or decrypted with
    ``decrypt_with``; the copy is made in the work folder (RAM) and removed once stored."""
    if encrypt_with is None and decrypt_with is None:
        storage.put_file(path, name)
        return
    fd, copy = tempfile.mkstemp(dir=current_app.config["UPLOAD_WORKDIR"], prefix="store-")
    os.close(fd)
    try:
        if encrypt_with is not None:
            os.unlink(copy)
            files.encrypt(encrypt_with, path, copy)
        else:
            with open(copy, "wb") as out, files.decrypting(cast("bytes", decrypt_with), open(path, "rb")) as plain:
                shutil.copyfileobj(plain, out, files.READ)
        storage.put_file(copy, name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(copy)


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
    query = select(Submission.id).where(Submission.dedupe_digest == digest, Submission.created_at >= _window())
    return db.session.scalar(query.limit(1)) is not None


def forget_duplicates() -> int:
    """Erase the duplicate check's digests older than DUPLICATE_MINUTES (each new submission and `flask uploads gc`
    do): "did this handle send this text?" can be tested for an hour, not forever. The caller commits."""
    statement = update(Submission).where(Submission.dedupe_digest.is_not(None), Submission.created_at < _window())
    result = db.session.execute(statement.values(dedupe_digest=None).execution_options(synchronize_session=False))
    return int(cast("Any", result).rowcount)


def _window() -> datetime:
    return utcnow() - timedelta(minutes=Submission.DUPLICATE_MINUTES)


def find(code_text: str, *, derive: Callable[[str], receipt_keys.Derived] | None = None) -> Submission | None:
    """Return the submission a typed receipt code belongs to, or None. A code that is no code costs nothing; any
    other costs one derivation, by ``derive`` (default: receipt_keys.derive; a request passes one that derives at
    most once). receipt_keys.Busy when no turn to derive comes in time.

    A receipt issued before the digests were derived with Argon2id holds an HMAC digest: when the new digest finds
    nothing, the HMAC one is looked for, and if found it is replaced by the new one (and so deleted) at once. Such an
    item has no receipt wrap: its receipt key waits, sealed to the queue, for a reader to make one (rekeys.note)."""
    code = receipts.parse(code_text)
    if code is None:
        return None
    derived = (derive or receipt_keys.derive)(code)
    found = db.session.scalar(select(Submission).where(Submission.receipt_digest == derived.lookup)) or _legacy(
        code, derived.lookup
    )
    if found is not None and found.key_for_receipt is None:  # stored before sealing: see app/submissions/rekeys.py
        rekeys.note(found, derived.key)
    return found


def _legacy(code: str, lookup: str) -> Submission | None:
    legacy = receipts.legacy_digest(code, legacy_receipt_key())
    found_id = db.session.scalar(select(Submission.id).where(Submission.receipt_digest == legacy))
    if found_id is None:
        return None
    # Of two first uses at once, both write the same digest. The version is left alone: this changes no decision.
    replace = update(Submission).where(Submission.id == found_id, Submission.receipt_digest == legacy)
    db.session.execute(replace.values(receipt_digest=lookup).execution_options(synchronize_session=False))
    db.session.commit()
    return db.session.scalar(select(Submission).where(Submission.receipt_digest == lookup))
