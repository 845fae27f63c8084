"""Files on their way into a form: resumable uploads (tus) and the files kept after a form came back with an error.

Each belongs to one visitor's form session, identified by that session's upload key. The key is made when a form
is drawn and lives only in the visitor's session cookie: the server never writes it down. Every byte at rest here
is encrypted with it (AES-CTR, each file with a nonce of its own, each chunk at its offset), so a seized disk, or
the server restarted without the cookie, holds nothing readable: not the content, not the file's name.

One folder per file, under the owner's folder (``<root>/<owner>/<id>/``):
- ``info.json``: the state, the times (to the minute), the counts that bound one upload's work, and sealed with the
  key: the name, and once finished the original's length and the clean file's description (type, size, sha256) or
  the codes of why it was refused. Nothing in it names the file, hashes it or dates it to the second;
- ``data``: the original, encrypted, while it is being received (deleted once it is scrubbed);
- ``clean`` and ``preview-<n>``: the scrubbed file and its previews, encrypted;
- ``finishing``: an empty file, flock'd by the request that is finishing the upload.

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
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from app.uploads import intake, ledger
from app.uploads.ledger import IDLE_SECONDS, holder_tag
from app.uploads.sealing import cipher_at, owner_of, seal, unseal

log = logging.getLogger(__name__)

EXPIRE_SECONDS = 4 * 3600  # as WTF_CSRF_TIME_LIMIT: the form that would send it expires then
KEPT_SECONDS = 3600  # files kept after a refused form
ID_LENGTH = 32  # hex characters
CHUNK = 256 * 1024  # what one read from the request takes
NAME_MAX = 255
# Times are kept to the minute: the shortest clock the store runs is the ten minutes of IDLE_SECONDS, which a
# minute keeps within a tenth, and nothing needs the second a person was here.
ROUND_SECONDS = 60
BROWSER_CHUNK = 2 * 2**20  # what the browser sends per PATCH (RESUMABLE_CHUNK_MB), for the PATCH limit
FINISHING_LOCK = "finishing"  # flock'd by the request finishing an upload: free while "finishing", it was killed


def now() -> float:
    """The store's clock (a test moves it)."""
    return time.time()


def minute_down(moment: float) -> int:
    return math.floor(moment / ROUND_SECONDS) * ROUND_SECONDS


def minute_up(moment: float) -> int:
    return math.ceil(moment / ROUND_SECONDS) * ROUND_SECONDS


def patch_limit(length: int, chunk: int) -> int:
    """How many PATCHes one upload may take: every chunk twice (a connection lost in each), and twenty more."""
    return 2 * math.ceil(length / chunk) + 20


def valid_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in "0123456789abcdef" for c in text)


class UploadRefused(Exception):
    """The upload cannot be taken: ``status`` is the HTTP answer, ``message`` what to tell the person."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or str(status))
        self.status, self.message = status, message


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


@dataclass
class PendingUpload:
    id: str
    folder: str
    length: int  # in clear only while bytes are expected; once finished, sealed in ``result``
    created: float
    expires: float
    state: str  # "receiving", "finishing" (being scrubbed), "clean" or "refused"
    nonce: str
    name_sealed: str
    active: float = 0  # the minute of its last byte (or its creation)
    patches: int = 0  # PATCHes taken
    holder: str = ""  # holder_tag() of the client that made it
    result: str = ""  # sealed: the length, and the clean file's description or the refusal codes
    # Known only with the key (unsealed from ``result``):
    clean: dict = field(default_factory=dict)  # the clean file: type, size, sha256, width, height, previews, nonces
    refusals: list = field(default_factory=list)  # why it was refused: [code, number] pairs (intake.Refusal)
    # Held by the request that brought it to "finishing", until it has finished it (append, finish):
    finishing_lock: object = field(default=None, repr=False, compare=False)

    @property
    def data_path(self) -> str:
        return os.path.join(self.folder, "data")

    @property
    def receiving(self) -> bool:
        return self.state == "receiving"

    def offset(self) -> int:
        if not self.receiving:
            return self.length
        try:
            return os.path.getsize(self.data_path)
        except FileNotFoundError:
            return 0

    def name(self, key: bytes) -> str:
        return unseal(key, self.name_sealed).decode("utf-8", "replace")

    def disk_bytes(self) -> int:
        """What its content takes on disk (the received bytes, or the clean file and its previews)."""
        try:
            entries = list(os.scandir(self.folder))
        except FileNotFoundError:
            return 0
        return sum(e.stat().st_size for e in entries if e.name != "info.json" and e.is_file(follow_symlinks=False))

    def info(self) -> dict:
        return {
            "length": self.length if self.state in ("receiving", "finishing") else 0,
            "created": self.created,
            "expires": self.expires,
            "active": self.active,
            "state": self.state,
            "nonce": self.nonce,
            "name": self.name_sealed,
            "patches": self.patches,
            "holder": self.holder,
            "result": self.result,
        }

    def unseal(self, key: bytes) -> PendingUpload:
        """Fill in what only the key reads: the length, the clean file's description, the refusal codes."""
        if self.result:
            found = json.loads(unseal(key, self.result))
            self.length, self.clean, self.refusals = found["length"], found["clean"], found["refusals"]
        return self

    def conclude(self, key: bytes, state: str) -> None:
        self.state = state
        self.result = seal(
            key, json.dumps({"length": self.length, "clean": self.clean, "refusals": self.refusals}).encode()
        )

    def entry(self) -> ledger.Entry:
        """What it holds, for the ledger."""
        expecting = self.length if self.receiving else 0
        return ledger.Entry(self.holder, expecting, self.disk_bytes(), self.active, self.expires)


class Store:
    """The files of every form session, under ``root`` (on disk: nothing in it is readable without a key)."""

    def __init__(self, root: str, *, clock=None, chunk: int = BROWSER_CHUNK):
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

    def held_bytes(self) -> int:
        """What the store holds of the server's disk budget: for an upload receiving bytes, its whole length (what
        arrived and what is still expected); for every other (idle, being scrubbed, finished), what is on disk."""
        with self._ledger() as book:
            return book.held(self.clock())[0]

    # --- writing ---

    def create(
        self,
        key: bytes,
        length: int,
        name: str,
        *,
        seconds: int = EXPIRE_SECONDS,
        quota: Quota | None = None,
        admit=None,
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

    def append(self, key: bytes, upload: PendingUpload, offset: int, stream, *, quota: Quota | None = None):
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

    def finish(self, key: bytes, upload: PendingUpload, limits: intake.Limits, settings, workdir: str) -> PendingUpload:
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
        """The clean file and its previews, decrypted into ``workdir`` (RAM) for storing with a submission."""
        clean = upload.clean
        path = os.path.join(workdir, f"kept-{upload.id}")
        self._decrypt(key, os.path.join(upload.folder, "clean"), clean["nonce"], path)
        previews = []
        for index, nonce in enumerate(clean["previews"]):
            preview = f"{path}-preview-{index}"
            self._decrypt(key, os.path.join(upload.folder, f"preview-{index}"), nonce, preview)
            previews.append(preview)
        return intake.Received(
            name=upload.name(key),
            type=clean["type"],
            path=path,
            size=clean["size"],
            sha256=clean["sha256"],
            clean_path=path,
            previews=previews,
            width=clean.get("width"),
            height=clean.get("height"),
        )

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

    def _room(self, book: ledger.Ledger, need: int, quota: Quota | None) -> None:
        if quota is not None:
            why = book.room(need, self.clock(), budget=quota.budget, client=quota.client, share=quota.share)
            if why:
                raise Full(why)

    def _resume(self, upload: PendingUpload, quota: Quota | None) -> None:
        """A PATCH comes: the upload is active from now. If it was idle, it takes again what it still expects,
        in one step with the check that there is room for that."""
        with self._ledger() as book:
            if self.idle(upload):
                self._room(book, upload.length - upload.offset(), quota)
            upload.active = minute_up(self.clock())
            book.put(upload.id, upload.entry())

    def _record(self, upload: PendingUpload) -> None:
        with self._ledger() as book:
            if os.path.isdir(upload.folder):
                book.put(upload.id, upload.entry())
            else:
                book.drop(upload.id)

    def _scrub(self, key: bytes, upload: PendingUpload, limits: intake.Limits, settings, folder: str) -> list:
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

    def _finishing_lock(self, upload: PendingUpload):
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

    @contextlib.contextmanager
    def _ledger(self, rebuild=None):
        with ledger.locked(self.root, rebuild or self._entries) as book:
            yield book

    def _entries(self) -> dict[str, ledger.Entry]:
        """The ledger's entries, from the folders (the truth)."""
        entries = {}
        for owner in self._folders(self.root):
            for folder in self._folders(owner):
                upload = self._load(folder)
                if upload is not None:
                    entries[upload.id] = upload.entry()
        return entries

    @contextlib.contextmanager
    def _locked(self, upload: PendingUpload):
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
    def _write(key: bytes, upload: PendingUpload, offset: int, stream) -> tuple[int, bool]:
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

    def _seal_clean(self, key: bytes, upload: PendingUpload, received: intake.Received) -> None:
        nonce = secrets.token_hex(8)
        self._encrypt(key, received.clean_path, nonce, os.path.join(upload.folder, "clean"))
        previews = []
        for index, path in enumerate(received.previews):
            preview_nonce = secrets.token_hex(8)
            self._encrypt(key, path, preview_nonce, os.path.join(upload.folder, f"preview-{index}"))
            previews.append(preview_nonce)
        upload.clean = {
            "type": received.type,
            "size": received.size,
            "sha256": received.sha256,
            "width": received.width,
            "height": received.height,
            "nonce": nonce,
            "previews": previews,
        }
        upload.name_sealed = seal(key, received.name.encode())

    @staticmethod
    def _encrypt(key: bytes, source: str, nonce: str, target: str) -> None:
        stream = cipher_at(key, bytes.fromhex(nonce), 0)
        with open(source, "rb") as src, open(target, "wb") as dst:
            while chunk := src.read(1024 * 1024):
                dst.write(stream.update(chunk))

    _decrypt = _encrypt  # CTR: the same stream both ways

    def _save(self, upload: PendingUpload) -> None:
        temporary = os.path.join(upload.folder, "info.json.new")
        with open(temporary, "w") as f:
            json.dump(upload.info(), f)
        os.replace(temporary, os.path.join(upload.folder, "info.json"))

    @staticmethod
    def _load(folder: str) -> PendingUpload | None:
        try:
            with open(os.path.join(folder, "info.json")) as f:
                info = json.load(f)
            return PendingUpload(
                id=os.path.basename(folder),
                folder=folder,
                length=info["length"],
                created=info["created"],
                expires=info["expires"],
                active=info["active"],
                state=info["state"],
                nonce=info["nonce"],
                name_sealed=info["name"],
                patches=info["patches"],
                holder=info["holder"],
                result=info["result"],
            )
        except (FileNotFoundError, NotADirectoryError, ValueError, KeyError, TypeError):
            return None  # half made, or from before this layout: collect() removes it

    @staticmethod
    def _folders(path: str) -> list[str]:
        try:
            return [entry.path for entry in os.scandir(path) if entry.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
