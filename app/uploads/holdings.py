"""What resumable uploads hold of the server's disk (app/uploads/resumable.py's Store, whose part this is): the
quota a request is given, whether there is room, the reservations written to the ledger (app/uploads/ledger.py)
under its lock, and the removal of what has expired."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from app.uploads import ledger
from app.uploads.pending import PendingUpload, UploadRefused


class Full(UploadRefused):
    """No room for it: ``why`` is "busy" (the server's disk budget, 503) or "share" (the client's, 429)."""

    def __init__(self, why: str):
        super().__init__(503 if why == "busy" else 429, why)
        self.why = why


@dataclass(frozen=True)
class Quota:
    """What may be held: the server's disk budget, and a client's share (``client`` is its limiter key; none when
    limits are off, and then only the budget counts)."""

    budget: int
    client: str = ""
    share: int = 0


class Holdings:
    """The Store's disk budget and its ledger (the Store gives ``root``, ``clock``, ``idle``, ``_load`` and
    ``_folders``)."""

    root: str
    clock: Callable[[], float]
    _load: Callable[[str], PendingUpload | None]
    _folders: Callable[[str], list[str]]

    def held_bytes(self) -> int:
        """What the store holds of the server's disk budget: for an upload receiving bytes, its whole length (what
        arrived and what is still expected); for every other (idle, being scrubbed, finished), what is on disk."""
        with self._ledger() as book:
            return book.held(self.clock())[0]

    def collect(self) -> int:
        """Remove every upload that has expired (and what a crash left half made); return how many; and make
        the ledger again from what remains. An idle upload stays until it expires: its reservation is released
        (ledger.Entry.held), what it received is kept for a resume."""
        removed = 0
        with self._ledger(rebuild=dict) as book:  # (made again below: not twice)
            now = self.clock()
            for owner in self._folders(self.root):
                for folder in self._folders(owner):
                    upload = self._load(folder)
                    if upload is None or upload.expires <= now:
                        shutil.rmtree(folder, ignore_errors=True)
                        removed += 1
                with contextlib.suppress(OSError):
                    os.rmdir(owner)  # only if empty
            book.entries, book.changed = self._entries(), True
        return removed

    def _room(self, book: ledger.Ledger, need: int, quota: Quota | None) -> None:
        if quota is not None:
            why = book.room(need, self.clock(), budget=quota.budget, client=quota.client, share=quota.share)
            if why:
                raise Full(why)

    def _record(self, upload: PendingUpload) -> None:
        with self._ledger() as book:
            if os.path.isdir(upload.folder):
                book.put(upload.id, upload.entry())
            else:
                book.drop(upload.id)

    @contextlib.contextmanager
    def _ledger(self, rebuild: Callable[[], dict[str, ledger.Entry]] | None = None) -> Iterator[ledger.Ledger]:
        with ledger.locked(self.root, rebuild or self._entries) as book:
            yield book

    def _entries(self) -> dict[str, ledger.Entry]:
        """The ledger's entries, from the folders (the truth)."""
        entries: dict[str, ledger.Entry] = {}
        for owner in self._folders(self.root):
            for folder in self._folders(owner):
                upload = self._load(folder)
                if upload is not None:
                    entries[upload.id] = upload.entry()
        return entries
