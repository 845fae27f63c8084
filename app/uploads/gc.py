"""Garbage collection of stored files: orphans after a crash, unfinished writes, missing files."""

import os
import time
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import select

from app.models import Attachment
from app.uploads.storage import storage_for


@dataclass
class Report:
    removed: int = 0
    leftovers: int = 0
    missing: list = field(default_factory=list)


def collect(session, *, min_age: int) -> Report:
    store = storage_for(current_app.config["STORAGE_URL"])
    known = dict(session.execute(select(Attachment.storage_key, Attachment.id)).all())
    wanted = set(known) | {f"{k}-thumb" for k in known}
    cutoff = time.time() - min_age
    report = Report()
    for key in list(store.keys()):
        # Young files may belong to a submission being stored right now.
        if key not in wanted and os.path.getmtime(os.path.join(store.root, key)) < cutoff:
            store.delete(key)
            report.removed += 1
    for name in list(store.leftovers()):
        if os.path.getmtime(os.path.join(store.root, name)) < cutoff:
            store.remove_leftover(name)
            report.leftovers += 1
    report.missing = sorted(i for k, i in known.items() if not store.exists(k))
    return report
