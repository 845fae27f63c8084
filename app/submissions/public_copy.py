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
from sqlalchemy import Select, delete, event, select

from app.crypto import files
from app.extensions import db
from app.models import Attachment, PublicAd, Submission, utcnow
from app.uploads.storage import StorageError, preview_key, public_key_name, public_names
from app.uploads.stores import app_storage

if TYPE_CHECKING:
    from app.submissions.sealed import Opener, Texts

_GONE = "public_copy.gone"  # session.info: the photos' clear copies to delete once the erasure is committed
_WRITTEN = "public_copy.written"  # session.info: the copies written in this transaction (deleted if it rolls back)


class Unopened(Exception):
    """A photo to be shown does not open (its file missing or damaged): nothing is published."""


def publish(submission: Submission, texts: Texts, opener: Opener, photos: Iterable[int]) -> None:
    """Make (or make again) an ad's public copy: its title, text and city, the handle only if its owner chose to
    show it, and a clear copy of each photo in ``photos`` (ids) and of its thumbnail, opened with ``opener``. A
    photo stored before sealing is in clear already: readers are sent the stored file itself. Unopened (and the
    copies made so far deleted, with the transaction's rollback) if a photo does not open."""
    db.session.execute(delete(PublicAd).where(PublicAd.submission_id == submission.id))
    db.session.add(
        PublicAd(
            submission_id=submission.id,
            title=texts.title or "",
            body=texts.body,
            city=texts.city or None,
            telegram=texts.telegram if submission.show_contact else None,
        )
    )
    chosen = select(Attachment).where(Attachment.submission_id == submission.id, Attachment.id.in_(list(photos)))
    storage = app_storage()
    for photo in db.session.scalars(chosen):
        if photo.file_key is None or not photo.content_type.startswith("image/"):
            continue
        parts = [("file", photo.storage_key, public_key_name(photo.storage_key))]
        if photo.previews:
            parts.append(("preview0", preview_key(photo.storage_key), public_key_name(photo.storage_key, thumb=True)))
        for part, stored, public in parts:
            key = opener.file_key(photo, part)
            if key is None:
                raise Unopened(photo.id)
            db.session.info.setdefault(_WRITTEN, []).append(public)
            try:
                _copy_plain(storage, stored, public, key)
            except (FileNotFoundError, StorageError, files.Refused) as error:
                raise Unopened(photo.id) from error


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


def shown_photos() -> Select[str]:
    """The storage keys of the photos readers may see now, whose clear copies must be there."""
    return select(Attachment.storage_key).join(Submission).where(Attachment.public, Submission.is_live_ad(utcnow()))


def erase(submission_id: int) -> None:
    db.session.execute(delete(PublicAd).where(PublicAd.submission_id == submission_id))
    _photos_gone(select(Attachment.storage_key).where(Attachment.submission_id == submission_id, Attachment.public))


def erase_expired(now: datetime) -> int:
    """The copies of ads no longer live (expired or closed): `flask purge` runs it."""
    live = select(Submission.id).where(Submission.is_live_ad(now))
    copied = select(PublicAd.submission_id).where(PublicAd.submission_id.not_in(live))
    _photos_gone(select(Attachment.storage_key).where(Attachment.submission_id.in_(copied), Attachment.public))
    result = db.session.execute(delete(PublicAd).where(PublicAd.submission_id.not_in(live)))
    return int(cast("Any", result).rowcount)


def _photos_gone(keys) -> None:  # type: ignore[no-untyped-def]  # (a select of storage keys)
    gone = db.session.info.setdefault(_GONE, [])
    gone.extend(name for key in db.session.scalars(keys) for name in public_names(key))


@event.listens_for(db.session, "after_commit")
def _delete_photos(session) -> None:  # type: ignore[no-untyped-def]
    session.info.pop(_WRITTEN, None)
    names = session.info.pop(_GONE, [])
    if names:
        # A copy that a live ad shows again by now (re-approved meanwhile) stays.
        with db.engine.connect() as connection:  # (the session emits no SQL while it commits)
            shown = {name for key in connection.scalars(shown_photos()) for name in public_names(key)}
        _delete([name for name in names if name not in shown])


@event.listens_for(db.session, "after_rollback")
def _undo_photos(session) -> None:  # type: ignore[no-untyped-def]
    session.info.pop(_GONE, None)
    _delete(session.info.pop(_WRITTEN, []))  # copies of a publication that did not happen


def _delete(names: list[str]) -> None:
    if not names:
        return
    storage = app_storage()
    for name in names:
        with contextlib.suppress(StorageError):  # what stays is removed by `flask uploads gc`
            storage.delete(name)
