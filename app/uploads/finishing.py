"""Finishing a resumable upload (app/uploads/resumable.py's Store, whose part this is): the request that brought
its last byte checks and scrubs it in the sandbox, once, holding the finishing lock; an upload left "finishing" by a
request that is gone is refused when next asked for ("unfinished": choose the file again)."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from typing import IO

from app.uploads import intake, sandbox
from app.uploads.pending import PendingUpload

log = logging.getLogger("app.uploads.resumable")

FINISHING_LOCK = "finishing"  # flock'd by the request finishing an upload: free while "finishing", it was killed


class Finishing:
    """The Store's finishing of uploads (it reads and writes them with the Store's _load, _save and _record)."""

    _decrypt: Callable[[bytes, str, str, str], None]
    _seal_clean: Callable[[bytes, PendingUpload, intake.Received], None]
    _save: Callable[[PendingUpload], None]
    _load: Callable[[str], PendingUpload | None]
    _record: Callable[[PendingUpload], None]

    def finish(
        self, key: bytes, upload: PendingUpload, limits: intake.Limits, settings: sandbox.Settings, workdir: str
    ) -> PendingUpload:
        """Check and scrub a complete upload in the sandbox, as the forms' files are; keep only the clean result,
        encrypted. A refusal is kept too, as codes, so that the page can show why; a failure of the server's own
        (a full disk, say) is a refusal that asks for the file again. Called once per upload, by the request
        whose append() brought it to "finishing", which holds its finishing lock until this ends."""
        folder = tempfile.mkdtemp(dir=workdir)
        try:
            refusals = self._scrub(key, upload, limits, settings, folder)
            upload.refusals = [[r.code, r.limit] for r in refusals]
            self._conclude(key, upload, "refused" if refusals else "clean")
        except Exception as error:
            if not os.path.isdir(upload.folder):
                return upload  # deleted while it was being scrubbed (the person removed it): nothing to keep
            log.error("an upload could not be finished: %s", type(error).__name__)  # (the kind only: no path, no name)
            upload.clean, upload.refusals = {}, [["unfinished", 0]]
            self._conclude(key, upload, "refused")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._release(upload)
        return upload

    def _scrub(
        self, key: bytes, upload: PendingUpload, limits: intake.Limits, settings: sandbox.Settings, folder: str
    ) -> list[intake.Refusal]:
        original = os.path.join(folder, "original")
        self._decrypt(key, upload.data_path, upload.nonce, original)
        received, refusals = intake.check_file(original, upload.name(key), limits)
        if received:
            cleaned, refused = intake.rebuild_coded([received], settings, folder)
            if cleaned:
                self._seal_clean(key, upload, cleaned[0])
            refusals += [refusal for _upload, refusal in refused]
        return refusals

    def _conclude(self, key: bytes, upload: PendingUpload, state: str) -> None:
        """The end of finishing: the state and what became of the file are kept, the original goes at once."""
        upload.conclude(key, state)
        with contextlib.suppress(FileNotFoundError):
            os.remove(upload.data_path)
        self._save(upload)
        self._record(upload)

    def _finishing_lock(self, upload: PendingUpload) -> IO[str]:
        """The finishing lock, taken (it is free: the upload's own lock is held, and it is receiving)."""
        lock = open(os.path.join(upload.folder, FINISHING_LOCK), "a")  # noqa: SIM115 (held past this function)
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        return lock

    @staticmethod
    def _release(upload: PendingUpload) -> None:
        if upload.finishing_lock is not None:
            upload.finishing_lock.close()
            upload.finishing_lock = None

    def _unstick(self, key: bytes, upload: PendingUpload) -> PendingUpload:
        """An upload "finishing": left alone while its finisher holds the finishing lock; if the lock is free, the
        request that took the state is gone, and the upload is refused ("unfinished": choose it again)."""
        try:
            lock = open(os.path.join(upload.folder, FINISHING_LOCK), "a")  # noqa: SIM115
        except FileNotFoundError:
            return upload.unseal(key)  # deleted meanwhile
        with lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return upload.unseal(key)  # being finished
            current = self._load(upload.folder)
            if current is None:
                return upload.unseal(key)
            if current.state == "finishing":
                current.clean, current.refusals = {}, [["unfinished", 0]]
                self._conclude(key, current, "refused")
            return current.unseal(key)
