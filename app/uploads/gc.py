"""Garbage collection of stored files: orphans after a crash, unfinished writes, missing files, clear copies of
photos no live ad shows any more (their erasure after a commit failed, or the ad expired); and work folders a
killed worker left in the RAM-backed work folder."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flask import current_app
from sqlalchemy import select

from app.models import Attachment
from app.submissions.public_copy import shown_photos
from app.uploads.storage import derived_keys, public_names
from app.uploads.stores import app_storage

if TYPE_CHECKING:
    from flask_sqlalchemy.session import Session
    from sqlalchemy.orm import scoped_session


@dataclass
class Collected:
    removed: int = 0
    leftovers: int = 0
    work_folders: int = 0
    missing: list[int] = field(default_factory=list)


def collect(session: scoped_session[Session], *, min_age: int) -> Collected:
    store = app_storage()
    known = dict(session.execute(select(Attachment.storage_key, Attachment.id)).all())
    wanted = set(known) | {derived for k in known for derived in derived_keys(k)}
    wanted -= {name for k in known for name in public_names(k)}
    wanted |= {name for k in session.scalars(shown_photos()) for name in public_names(k)}
    cutoff = time.time() - min_age
    report = Collected()
    # One listing, not a lookup per attachment: with S3 each lookup is a request.
    stored = set(store.keys())
    for key in sorted(stored - wanted):
        # Young files may belong to a submission being stored right now.
        if store.modified(key) < cutoff:
            store.delete(key)
            report.removed += 1
    for name in list(store.leftovers(older_than=cutoff)):
        store.remove_leftover(name)
        report.leftovers += 1
    report.missing = sorted(i for k, i in known.items() if k not in stored)
    report.work_folders = abandoned_work(current_app.config["UPLOAD_WORKDIR"], cutoff)
    return report


LOCK_FOLDERS = {".slots", ".receipt-slots"}


def abandoned_work(workdir: str, cutoff: float) -> int:
    """Remove request work folders older than the cutoff: a request ends by removing its own, so these belong
    to a worker that was killed mid-request. The lock files of the sandbox (.slots) and of receipts
    (.receipt-slots, app/crypto/receipts.py) stay: a turn held on a removed file would not count."""
    removed = 0
    for entry in os.scandir(workdir) if os.path.isdir(workdir) else ():
        if entry.name not in LOCK_FOLDERS and entry.stat(follow_symlinks=False).st_mtime < cutoff:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
    return removed
