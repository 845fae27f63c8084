"""Files on their way into a form: resumable uploads (tus) and the files kept after a form came back with an error.

Each belongs to one visitor's form session, whose key lives only in the visitor's session cookie. Every byte at
rest here is encrypted: the original with that key (AES-CTR at its offset), the clean file under a key of its own
that only the session's key opens (stored with the submission as it is): a seized disk holds nothing readable.

A file is scrubbed the moment its last byte arrives (finish), once: the request that brings the last byte takes the
state "finishing" under the upload's lock, with the finishing lock, and a complete upload takes no more bytes. If
that request fails or its worker dies, the upload is refused ("unfinished": the person chooses the file again),
when it is next asked for and finds the finishing lock free. It then waits, clean and encrypted, until the form is
sent (take) or it expires: EXPIRE_SECONDS after it was created (the form's token lasts as long), KEPT_SECONDS after
a refused form kept it, and never later than EXPIRE_SECONDS after it came. ``flask uploads gc`` and the start of
the app remove what has expired.

The server's disk budget counts every upload, through the ledger (app/uploads/ledger.py): what is received and
still expected of one receiving bytes, what is on disk of the others (finished and kept files included); a
client's share counts the same of its own uploads. An upload that has received no byte for IDLE_SECONDS no longer
reserves what it still expects; it may go on once the budget has room again. Whether there is room and the
reservation are one step, under the ledger's lock: requests at once cannot each find the same room.

The Store is written in four modules: this one (reading, receiving, keeping, deleting), pending.py (one upload as
it lies on disk, and its folder's layout), holdings.py (the disk budget, the ledger, removing what expired) and
finishing.py (scrubbing a complete upload, once).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import math
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any

from app.uploads import intake
from app.uploads.finishing import FINISHING_LOCK, Finishing  # noqa: F401
from app.uploads.holdings import Full as Full  # part of the store's answers
from app.uploads.holdings import Holdings
from app.uploads.holdings import Quota as Quota
from app.uploads.ledger import IDLE_SECONDS, holder_tag
from app.uploads.pending import (
    CHUNK,
    ID_LENGTH,
    NAME_MAX,
    ROUND_SECONDS,  # noqa: F401  (read here by tests and bench/)
    Readable,
    crypt,
    folders,
    load,
    minute_down,
    minute_up,
    save,
    seal_clean,
    valid_id,
)
from app.uploads.pending import PendingUpload as PendingUpload
from app.uploads.pending import UploadRefused as UploadRefused
from app.uploads.sealing import cipher_at, owner_of, seal

log = logging.getLogger(__name__)

EXPIRE_SECONDS = 4 * 3600  # as WTF_CSRF_TIME_LIMIT: the form that would send it expires then
KEPT_SECONDS = 3600  # files kept after a refused form
BROWSER_CHUNK = 2 * 2**20  # what the browser sends per PATCH (RESUMABLE_CHUNK_MB), for the PATCH limit


def now() -> float:
    """The store's clock (a test moves it)."""
    return time.time()


def patch_limit(length: int, chunk: int) -> int:
    """How many PATCHes one upload may take: every chunk twice (a connection lost in each), and twenty more."""
    return 2 * math.ceil(length / chunk) + 20


class Store(Holdings, Finishing):
    """The files of every form session, under ``root`` (on disk: nothing in it is readable without a key)."""

    def __init__(self, root: str, *, clock: Callable[[], float] | None = None, chunk: int = BROWSER_CHUNK) -> None:
        self.root = root
        self.clock = clock or (lambda: now())
        self.chunk = chunk
        os.makedirs(root, mode=0o700, exist_ok=True)

    # --- reading ---

    def get(self, key: bytes, upload_id: str) -> PendingUpload | None:
        """The owner's upload, if it exists and has not expired. One left "finishing" by a request that is gone (a
        worker killed, say) is concluded here: refused, with a reason that asks for the file again."""
        if not valid_id(upload_id):
            return None
        upload = self._load(os.path.join(self.root, owner_of(key), upload_id))
        if upload is None or upload.expires <= self.clock():
            return None
        if upload.state == "finishing":
            return self._unstick(key, upload)
        return upload.unseal(key)

    def owned(self, key: bytes) -> list[PendingUpload]:
        folder = os.path.join(self.root, owner_of(key))
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = [self._load(os.path.join(folder, name)) for name in names if valid_id(name)]
        return sorted((u.unseal(key) for u in found if u and u.expires > self.clock()), key=lambda u: u.created)

    def idle(self, upload: PendingUpload) -> bool:
        """Receiving, but no byte for IDLE_SECONDS: it no longer reserves what it still expects."""
        return upload.receiving and self.clock() >= upload.active + IDLE_SECONDS

    # --- writing ---

    def create(
        self,
        key: bytes,
        length: int,
        name: str,
        *,
        seconds: int = EXPIRE_SECONDS,
        quota: Quota | None = None,
        admit: Callable[[list[PendingUpload]], object] | None = None,
    ) -> PendingUpload:
        """A new, empty upload of ``length`` bytes for the key's owner, held for ``quota.client``. In one step
        under the store's lock: ``admit(owned)`` (the form session's own limits; it raises UploadRefused), whether the
        quota has room (Full if not), and the reservation."""
        with self._ledger() as book:
            if admit is not None:
                admit(self.owned(key))
            self._room(book, length, quota)
            upload = self._make(key, length, name, seconds, quota.client if quota else "")
            open(upload.data_path, "wb").close()
            self._save(upload)
            book.put(upload.id, upload.entry())
        return upload

    def append(
        self, key: bytes, upload: PendingUpload, offset: int, stream: Readable, *, quota: Quota | None = None
    ) -> tuple[PendingUpload, bool]:
        """Add the bytes of ``stream`` at ``offset`` (which must be what the server has), encrypted as they come.
        Return the upload as it now is, and whether this request brought it to its end: then finishing it is this
        request's job, and no other's (the state is taken under the lock, with the finishing lock, which the
        returned upload holds until finish()). What arrived before a connection broke off is kept: the client
        resumes there. A complete upload takes no more PATCHes; each upload at most patch_limit(), whatever each
        brings; one idle for a while takes its reservation again first, if the ``quota`` has room (else Full)."""
        with self._locked(upload) as current:
            if current is None:
                raise UploadRefused(404)
            if not current.receiving:
                raise UploadRefused(409)  # complete: nothing more to take
            if current.patches >= patch_limit(current.length, self.chunk):
                raise UploadRefused(429)
            self._resume(current, quota)
            finishing = False
            try:
                position, more = self._write(key, current, offset, stream)
                if more:
                    raise UploadRefused(413)  # more than the upload's length: what fitted is kept, the rest refused
                finishing = position == current.length
                if finishing:
                    current.finishing_lock = self._finishing_lock(current)
                    current.state = "finishing"
            finally:
                current.patches += 1
                self._save(current)
                self._record(current)
        return current, finishing

    def keep(
        self, key: bytes, received: intake.Received, *, quota: Quota, seconds: int = KEPT_SECONDS
    ) -> PendingUpload:
        """Keep a scrubbed file of a form that came back with an error, for this session only, held for the
        quota's client like any upload; Full if the quota has no room for it (then it is not kept)."""
        need = sum(os.path.getsize(path) for path in [received.clean_path, *received.previews])
        with self._ledger() as book:
            self._room(book, need, quota)
            upload = self._make(key, received.size, received.name, seconds, quota.client)
            upload.active = minute_down(self.clock())  # nothing more to come
            self._seal_clean(key, upload, received)
            upload.conclude(key, "clean")
            self._save(upload)
            book.put(upload.id, upload.entry())
        return upload

    def open_clean(self, key: bytes, upload: PendingUpload, workdir: str) -> intake.Received:
        """The clean file and its previews, as they are kept: encrypted under the file's own key, which the
        session's ``key`` opens; stored with a submission as they are. (An upload kept before files had keys of
        their own is decrypted into ``workdir``, RAM, instead.)"""
        clean = upload.clean
        described: dict[str, Any] = {name: clean.get(name) for name in ("type", "size", "sha256", "width", "height")}
        described["name"] = upload.name(key)
        if "file_key" in clean:
            parts = [os.path.join(upload.folder, "clean")]
            parts += [os.path.join(upload.folder, f"preview-{index}") for index in range(clean["previews"])]
            return intake.Received(path="", file_key=bytes.fromhex(clean["file_key"]), encrypted=parts, **described)
        path = os.path.join(workdir, f"kept-{upload.id}")
        kept = [("clean", clean["nonce"], path)]
        kept += [(f"preview-{n}", nonce, f"{path}-preview-{n}") for n, nonce in enumerate(clean["previews"])]
        for name, nonce, target in kept:
            self._decrypt(key, os.path.join(upload.folder, name), nonce, target)
        return intake.Received(path=path, clean_path=path, previews=[p for _n, _c, p in kept[1:]], **described)

    def renew(self, upload: PendingUpload, seconds: int = KEPT_SECONDS) -> None:
        """A form came back with an error: what it carries is kept for ``seconds`` from now, but never past the
        EXPIRE_SECONDS of its form from when it came (each refused form would otherwise keep it for ever)."""
        last = upload.created + EXPIRE_SECONDS
        upload.expires = max(upload.expires, min(minute_up(self.clock() + seconds), last))
        self._save(upload)
        self._record(upload)

    def delete(self, upload: PendingUpload) -> None:
        shutil.rmtree(upload.folder, ignore_errors=True)
        with self._ledger() as book:
            book.drop(upload.id)

    # --- inside ---

    def _make(self, key: bytes, length: int, name: str, seconds: int, client: str) -> PendingUpload:
        now = self.clock()
        owner = os.path.join(self.root, owner_of(key))
        os.makedirs(owner, mode=0o700, exist_ok=True)
        upload_id = secrets.token_hex(ID_LENGTH // 2)
        folder = os.path.join(owner, upload_id)
        os.mkdir(folder, 0o700)
        return PendingUpload(
            id=upload_id,
            folder=folder,
            length=length,
            created=minute_down(now),
            expires=minute_up(now + seconds),  # never before the form that sends it
            active=minute_up(now),  # never released before IDLE_SECONDS
            state="receiving",
            nonce=secrets.token_hex(8),
            name_sealed=seal(key, name[:NAME_MAX].encode()),
            holder=holder_tag(client, upload_id),
        )

    def _resume(self, upload: PendingUpload, quota: Quota | None) -> None:
        """A PATCH comes: the upload is active from now. If it was idle, it takes again what it still expects,
        in one step with the check that there is room for that."""
        with self._ledger() as book:
            if self.idle(upload):
                self._room(book, upload.length - upload.offset(), quota)
            upload.active = minute_up(self.clock())
            book.put(upload.id, upload.entry())

    @contextlib.contextmanager
    def _locked(self, upload: PendingUpload) -> Iterator[PendingUpload | None]:
        """The upload as it is on disk, read under its lock (a flock on its folder, held while a request appends
        or takes its state): another request at it meanwhile is told 423, try again."""
        try:
            fd = os.open(upload.folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise UploadRefused(404) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UploadRefused(423) from None
            yield self._load(upload.folder)
        finally:
            os.close(fd)

    @staticmethod
    def _write(key: bytes, upload: PendingUpload, offset: int, stream: Readable) -> tuple[int, bool]:
        """Append the stream's bytes at ``offset``, up to the upload's length; return the new offset, and whether
        the stream had more than fitted."""
        with open(upload.data_path, "r+b") as data:
            have = os.fstat(data.fileno()).st_size
            if offset != have:
                raise UploadRefused(409)
            data.seek(have)
            stream_cipher = cipher_at(key, bytes.fromhex(upload.nonce), have)
            position = have
            try:
                while position < upload.length:
                    chunk = stream.read(min(CHUNK, upload.length - position))
                    if not chunk:
                        break
                    data.write(stream_cipher.update(chunk))
                    position += len(chunk)
            finally:
                data.flush()
                os.fsync(data.fileno())
        return position, bool(stream.read(1))

    _seal_clean = staticmethod(seal_clean)
    _encrypt = _decrypt = staticmethod(crypt)
    _save = staticmethod(save)
    _load = staticmethod(load)
    _folders = staticmethod(folders)
