"""A published ad's clear public copy (AT-REST.md): the one place an ad's words and photos rest in clear, and only
while readers may see them. Written at approval (by the moderator, who has opened the sealed fields and files) and
at a renewal after expiry (by the owner, with the receipt key); erased when the ad is closed, returned to the queue,
undone, edited by its owner, withdrawn, deleted or purged, and by `flask purge` once it has expired. The readers'
pages and the full-text index read the copies alone, so they do no cryptography.

The words are a row (public_ads); each photo a moderator allowed is a clear copy of the file and of its thumbnail
in storage (storage.public_key_name), written before the commit and deleted after it (a failed deletion, or a
copy left by a failed approval, is removed by `flask uploads gc`). The caller commits.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from flask import current_app
from sqlalchemy import delete, event, select

from app.crypto import files
from app.extensions import db
from app.models import Attachment, PublicAd, Submission
from app.uploads.storage import StorageError, preview_key, public_key_name, public_names
from app.uploads.stores import app_storage

if TYPE_CHECKING:
    from app.submissions.sealed import Opener, Texts

_GONE = "public_copy.gone"  # session.info: the photos' clear copies to delete once the erasure is committed


def write(submission_id: int, texts: Texts, *, show_contact: bool) -> None:
    """Make (or make again) an ad's public copy: its title, text and city, and the handle only if its owner chose
    to show it."""
    db.session.execute(delete(PublicAd).where(PublicAd.submission_id == submission_id))
    db.session.add(
        PublicAd(
            submission_id=submission_id,
            title=texts.title or "",
            body=texts.body,
            city=texts.city or None,
            telegram=texts.telegram if show_contact else None,
        )
    )


def write_photos(submission_id: int, chosen: Iterable[int], opener: Opener) -> None:
    """Clear copies of the photos chosen to be shown (and of their thumbnails), decrypted with ``opener``. A photo
    stored before sealing is in clear already: readers are sent the stored file itself."""
    query = select(Attachment).where(Attachment.submission_id == submission_id, Attachment.id.in_(list(chosen)))
    storage = app_storage()
    for photo in db.session.scalars(query):
        if photo.file_key is None or not photo.content_type.startswith("image/"):
            continue
        parts = [("file", photo.storage_key, public_key_name(photo.storage_key))]
        if photo.previews:
            parts.append(("preview0", preview_key(photo.storage_key), public_key_name(photo.storage_key, thumb=True)))
        for part, stored, public in parts:
            key = opener.file_key(photo, part)
            if key is None:
                continue  # (the approval was refused before this if the item is locked)
            _copy_plain(storage, stored, public, key)


def _copy_plain(storage: Any, stored: str, public: str, key: bytes) -> None:
    folder = current_app.config["UPLOAD_WORKDIR"]
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="public-")
    try:
        with os.fdopen(fd, "wb") as out, files.decrypting(key, storage.open(stored)) as plain:
            while piece := plain.read(files.READ):
                out.write(piece)
        storage.put_file(path, public)
    finally:
        os.unlink(path)


def erase(submission_id: int) -> None:
    db.session.execute(delete(PublicAd).where(PublicAd.submission_id == submission_id))
    _photos_gone(select(Attachment.storage_key).where(Attachment.submission_id == submission_id, Attachment.public))


def erase_expired(now: datetime) -> int:
    """The copies of ads no longer live (expired or closed): `flask purge` runs it."""
    live = select(Submission.id).where(Submission.is_live_ad(now))
    _photos_gone(select(Attachment.storage_key).where(Attachment.submission_id.not_in(live), Attachment.public))
    result = db.session.execute(delete(PublicAd).where(PublicAd.submission_id.not_in(live)))
    return int(cast("Any", result).rowcount)


def _photos_gone(keys) -> None:  # type: ignore[no-untyped-def]  # (a select of storage keys)
    gone = db.session.info.setdefault(_GONE, [])
    gone.extend(name for key in db.session.scalars(keys) for name in public_names(key))


@event.listens_for(db.session, "after_commit")
def _delete_photos(session) -> None:  # type: ignore[no-untyped-def]
    names = session.info.pop(_GONE, [])
    if not names:
        return
    storage = app_storage()
    for name in names:
        with contextlib.suppress(StorageError):  # what stays is removed by `flask uploads gc`
            storage.delete(name)


@event.listens_for(db.session, "after_rollback")
def _keep_photos(session) -> None:  # type: ignore[no-untyped-def]
    session.info.pop(_GONE, None)
