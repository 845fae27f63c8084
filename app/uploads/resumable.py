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
- ``clean`` and ``preview-<n>``: the scrubbed file and its previews, encrypted.

A file is scrubbed the moment its last byte arrives (finish), once: the request that brings the last byte takes the
state "finishing" under the upload's lock, and a complete upload takes no more bytes. It then waits, clean and
encrypted, until the form is sent (take) or it expires: EXPIRE_SECONDS after it was created (the form's token lasts
as long), KEPT_SECONDS after a refused form kept it. ``flask uploads gc`` and the start of the app remove what has
expired.

The server's disk budget (held_bytes) counts every upload: what is received and still expected of one receiving
bytes, what is on disk of the others (finished files included). An upload that has received no byte for
IDLE_SECONDS no longer reserves what it still expects; it may go on once the budget has room again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from app.uploads import intake
from app.uploads.sealing import cipher_at, owner_of, seal, unseal

EXPIRE_SECONDS = 4 * 3600  # as WTF_CSRF_TIME_LIMIT: the form that would send it expires then
KEPT_SECONDS = 3600  # files kept after a refused form
ID_LENGTH = 32  # hex characters
CHUNK = 256 * 1024  # what one read from the request takes
NAME_MAX = 255
# Times are kept to the minute: the shortest clock the store runs is the ten minutes of IDLE_SECONDS, which a
# minute keeps within a tenth, and nothing needs the second a person was here.
ROUND_SECONDS = 60
IDLE_SECONDS = 600  # an upload that has received no byte for this long reserves no more than it holds
BROWSER_CHUNK = 2 * 2**20  # what the browser sends per PATCH (RESUMABLE_CHUNK_MB), for the PATCH limit


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


def holder_tag(client: str, upload_id: str) -> str:
    """Which client an upload's reservation counts against, told only to that client's limiter key: the tags of
    one client's uploads differ from each other, and none says the client without the limiter's key."""
    return hmac.new(client.encode(), upload_id.encode(), hashlib.sha256).hexdigest()[:16] if client else ""


def valid_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in "0123456789abcdef" for c in text)


class Refused(Exception):
    """The upload cannot be taken: ``status`` is the HTTP answer, ``message`` what to tell the person."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or str(status))
        self.status, self.message = status, message


@dataclass
class Upload:
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

    def unseal(self, key: bytes) -> Upload:
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


class Store:
    """The files of every form session, under ``root`` (on disk: nothing in it is readable without a key)."""

    def __init__(self, root: str, *, clock=None, chunk: int = BROWSER_CHUNK):
        self.root = root
        self.clock = clock or (lambda: now())
        self.chunk = chunk
        os.makedirs(root, mode=0o700, exist_ok=True)

    # --- reading ---

    def get(self, key: bytes, upload_id: str) -> Upload | None:
        """The owner's upload, if it exists and has not expired."""
        if not valid_id(upload_id):
            return None
        upload = self._load(os.path.join(self.root, owner_of(key), upload_id))
        if upload is None or upload.expires <= self.clock():
            return None
        return upload.unseal(key)

    def owned(self, key: bytes) -> list[Upload]:
        folder = os.path.join(self.root, owner_of(key))
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = [self._load(os.path.join(folder, name)) for name in names if valid_id(name)]
        return sorted((u.unseal(key) for u in found if u and u.expires > self.clock()), key=lambda u: u.created)

    def idle(self, upload: Upload) -> bool:
        """Receiving, but no byte for IDLE_SECONDS: it no longer reserves what it still expects."""
        return upload.receiving and self.clock() >= upload.active + IDLE_SECONDS

    def holdings(self, client: str = "") -> tuple[int, int]:
        """What the store holds of the server's disk budget: for an upload receiving bytes, its whole length (what
        arrived and what is still expected); for every other (idle, being scrubbed, finished), what is on disk.
        And the bytes still expected by the uploads of ``client`` (its limiter key) that are receiving."""
        held = mine = 0
        for owner in self._folders(self.root):
            for folder in self._folders(owner):
                upload = self._load(folder)
                if upload is None or upload.expires <= self.clock():
                    continue
                reserving = upload.receiving and not self.idle(upload)
                held += max(upload.disk_bytes(), upload.length if reserving else 0)
                if reserving and client and upload.holder == holder_tag(client, upload.id):
                    mine += upload.length - upload.offset()
        return held, mine

    def held_bytes(self) -> int:
        return self.holdings()[0]

    def room(self, need: int, *, budget: int, client: str = "", share: int = 0) -> str | None:
        """Whether ``need`` more bytes may be reserved: None, or why not ("busy": the server's disk budget would be
        passed; "share": the client's, when a client and its share are given)."""
        held, mine = self.holdings(client)
        if held + need > budget:
            return "busy"
        if client and mine + need > share:
            return "share"
        return None

    # --- writing ---

    def create(self, key: bytes, length: int, name: str, *, seconds: int = EXPIRE_SECONDS, client: str = "") -> Upload:
        """A new, empty upload of ``length`` bytes for the key's owner, reserved for ``client`` (a limiter key)."""
        now = self.clock()
        owner = os.path.join(self.root, owner_of(key))
        os.makedirs(owner, mode=0o700, exist_ok=True)
        upload_id = secrets.token_hex(ID_LENGTH // 2)
        folder = os.path.join(owner, upload_id)
        os.mkdir(folder, 0o700)
        upload = Upload(
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
        open(upload.data_path, "wb").close()
        self._save(upload)
        return upload

    def append(self, key: bytes, upload: Upload, offset: int, stream) -> tuple[Upload, bool]:
        """Add the bytes of ``stream`` at ``offset`` (which must be what the server has), encrypted as they come.
        Return the upload as it now is, and whether this request brought it to its end: then finishing it is this
        request's job, and no other's (the state is taken under the lock). What arrived before a connection broke
        off is kept: the client resumes there. A complete upload takes no more PATCHes, and each upload at most
        patch_limit() of them."""
        with self._locked(upload) as current:
            if current is None:
                raise Refused(404)
            if not current.receiving:
                raise Refused(409)  # complete: nothing more to take
            if current.patches >= patch_limit(current.length, self.chunk):
                raise Refused(429)
            current.patches += 1
            current.active = minute_up(self.clock())
            try:
                position, more = self._write(key, current, offset, stream)
                if more:
                    raise Refused(413)  # more than the upload's length: what fitted is kept, the rest refused
                finishing = position == current.length
                if finishing:
                    current.state = "finishing"
            finally:
                self._save(current)
        return current, finishing

    def finish(self, key: bytes, upload: Upload, limits: intake.Limits, settings, workdir: str) -> Upload:
        """Check and scrub a complete upload in the sandbox, as the forms' files are; keep only the clean result,
        encrypted. A refusal is kept too, as codes, so that the page can show why. Called once per upload, by the
        request whose append() brought it to "finishing"."""
        folder = tempfile.mkdtemp(dir=workdir)
        try:
            original = os.path.join(folder, "original")
            self._decrypt(key, upload.data_path, upload.nonce, original)
            received, refusals = intake.check_file(original, upload.name(key), limits)
            if received:
                cleaned, refused = intake.rebuild_coded([received], settings, folder)
                if cleaned:
                    self._seal_clean(key, upload, cleaned[0])
                refusals += [refusal for _upload, refusal in refused]
            upload.refusals = [[r.code, r.limit] for r in refusals]
            upload.conclude(key, "refused" if refusals else "clean")
            with contextlib.suppress(FileNotFoundError):
                os.remove(upload.data_path)  # the original goes at once
            self._save(upload)
        except FileNotFoundError:
            if os.path.isdir(upload.folder):
                raise
            # Deleted while it was being scrubbed (the person removed it): nothing to keep.
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return upload

    def keep(self, key: bytes, received: intake.Upload, *, seconds: int = KEPT_SECONDS) -> Upload:
        """Keep a scrubbed file of a form that came back with an error, for this session only."""
        upload = self.create(key, received.size, received.name, seconds=seconds)
        os.remove(upload.data_path)
        self._seal_clean(key, upload, received)
        upload.conclude(key, "clean")
        self._save(upload)
        return upload

    def open_clean(self, key: bytes, upload: Upload, workdir: str) -> intake.Upload:
        """The clean file and its previews, decrypted into ``workdir`` (RAM) for storing with a submission."""
        clean = upload.clean
        path = os.path.join(workdir, f"kept-{upload.id}")
        self._decrypt(key, os.path.join(upload.folder, "clean"), clean["nonce"], path)
        previews = []
        for index, nonce in enumerate(clean["previews"]):
            preview = f"{path}-preview-{index}"
            self._decrypt(key, os.path.join(upload.folder, f"preview-{index}"), nonce, preview)
            previews.append(preview)
        return intake.Upload(
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

    def renew(self, upload: Upload, seconds: int = KEPT_SECONDS) -> None:
        """A form came back with an error: what it carries is kept for ``seconds`` from now."""
        upload.expires = minute_up(self.clock() + seconds)
        self._save(upload)

    def delete(self, upload: Upload) -> None:
        shutil.rmtree(upload.folder, ignore_errors=True)

    def collect(self) -> int:
        """Remove every upload that has expired (and what a crash left half made); return how many. An idle upload
        stays until it expires: its reservation is released (holdings), what it received is kept for a resume."""
        removed = 0
        now = self.clock()
        for owner in self._folders(self.root):
            for folder in self._folders(owner):
                upload = self._load(folder)
                if upload is None or upload.expires <= now:
                    shutil.rmtree(folder, ignore_errors=True)
                    removed += 1
            with contextlib.suppress(OSError):
                os.rmdir(owner)  # only if empty
        return removed

    # --- inside ---

    @contextlib.contextmanager
    def _locked(self, upload: Upload):
        """The upload as it is on disk, read under its lock (a flock on its folder, held while a request appends
        or takes its state): another request at it meanwhile is told 423, try again."""
        try:
            fd = os.open(upload.folder, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            raise Refused(404) from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Refused(423) from None
            yield self._load(upload.folder)
        finally:
            os.close(fd)

    @staticmethod
    def _write(key: bytes, upload: Upload, offset: int, stream) -> tuple[int, bool]:
        """Append the stream's bytes at ``offset``, up to the upload's length; return the new offset, and whether
        the stream had more than fitted."""
        with open(upload.data_path, "r+b") as data:
            have = os.fstat(data.fileno()).st_size
            if offset != have:
                raise Refused(409)
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

    def _seal_clean(self, key: bytes, upload: Upload, received: intake.Upload) -> None:
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

    def _save(self, upload: Upload) -> None:
        temporary = os.path.join(upload.folder, "info.json.new")
        with open(temporary, "w") as f:
            json.dump(upload.info(), f)
        os.replace(temporary, os.path.join(upload.folder, "info.json"))

    @staticmethod
    def _load(folder: str) -> Upload | None:
        try:
            with open(os.path.join(folder, "info.json")) as f:
                info = json.load(f)
            return Upload(
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
