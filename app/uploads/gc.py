"""Garbage collection of stored files: orphans after a crash, unfinished writes, missing files."""

import time
from dataclasses import dataclass, field

from sqlalchemy import select

from app.models import Attachment
from app.uploads.storage import app_storage, derived_keys


@dataclass
class Report:
    removed: int = 0
    leftovers: int = 0
    missing: list = field(default_factory=list)


def collect(session, *, min_age: int) -> Report:
    store = app_storage()
    known = dict(session.execute(select(Attachment.storage_key, Attachment.id)).all())
    wanted = set(known) | {derived for k in known for derived in derived_keys(k)}
    cutoff = time.time() - min_age
    report = Report()
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
    return report
