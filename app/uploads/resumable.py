"""Files on their way into a form: resumable uploads (tus) and the files kept after a form came back with an error.

Each belongs to one visitor's form session, identified by that session's upload key. The key is made when a form
is drawn and lives only in the visitor's session cookie: the server never writes it down. Every byte at rest here
is encrypted with it (AES-CTR, each file with a nonce of its own, each chunk at its offset), so a seized disk, or
the server restarted without the cookie, holds nothing readable: not the content, not the file's name.

One folder per file, under the owner's folder (``<root>/<owner>/<id>/``):
- ``info.json``: sizes, times, state, the encrypted name, and once scrubbed the clean file's description;
- ``data``: the original, encrypted, while it is being received (deleted once it is scrubbed);
- ``clean`` and ``preview-<n>``: the scrubbed file and its previews, encrypted.

A file is scrubbed the moment its last byte arrives (finish); it then waits, clean and encrypted, until the form is
sent (take) or it expires: EXPIRE_SECONDS after it was created (the form's token lasts as long), KEPT_SECONDS
after a refused form kept it. ``flask uploads gc`` and the start of the app remove what has expired.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from app.uploads import intake

KEY_BYTES = 32
EXPIRE_SECONDS = 4 * 3600  # as WTF_CSRF_TIME_LIMIT: the form that would send it expires then
KEPT_SECONDS = 3600  # files kept after a refused form
ID_LENGTH = 32  # hex characters
CHUNK = 256 * 1024  # what one read from the request takes
NAME_MAX = 255


def now() -> float:
    """The store's clock (a test moves it)."""
    return time.time()


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text) -> bytes | None:
    try:
        key = base64.urlsafe_b64decode(text or "")
    except (binascii.Error, ValueError, TypeError):
        return None
    return key if len(key) == KEY_BYTES else None


def owner_of(key: bytes) -> str:
    """A folder name for the key's files, from which the key cannot be found."""
    return hashlib.sha256(b"prystan upload owner\0" + key).hexdigest()[:32]


def valid_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in "0123456789abcdef" for c in text)


def cipher_at(key: bytes, nonce: bytes, offset: int):
    """An AES-CTR stream for the byte at ``offset`` of a file with this nonce (8 bytes, then the block counter)."""
    block, skip = divmod(offset, 16)
    stream = Cipher(algorithms.AES(key), modes.CTR(nonce + block.to_bytes(8, "big"))).encryptor()
    if skip:
        stream.update(b"\0" * skip)
    return stream


class Refused(Exception):
    """The upload cannot be taken: ``status`` is the HTTP answer, ``message`` what to tell the person."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or str(status))
        self.status, self.message = status, message


@dataclass
class Upload:
    id: str
    folder: str
    length: int
    created: float
    expires: float
    state: str  # "receiving", "clean" or "refused"
    nonce: str
    name_sealed: str
    clean: dict = field(default_factory=dict)  # the clean file: type, size, sha256, width, height, previews, nonces
    messages: list[str] = field(default_factory=list)  # why it was refused, in the sender's language

    @property
    def data_path(self) -> str:
        return os.path.join(self.folder, "data")

    def offset(self) -> int:
        if self.state != "receiving":
            return self.length
        try:
            return os.path.getsize(self.data_path)
        except FileNotFoundError:
            return 0

    def name(self, key: bytes) -> str:
        sealed = bytes.fromhex(self.name_sealed)
        return cipher_at(key, sealed[:8], 0).update(sealed[8:]).decode("utf-8", "replace")

    def info(self) -> dict:
        return {
            "length": self.length,
            "created": self.created,
            "expires": self.expires,
            "state": self.state,
            "nonce": self.nonce,
            "name": self.name_sealed,
            "clean": self.clean,
            "messages": self.messages,
        }


class Store:
    """The files of every form session, under ``root`` (on disk: nothing in it is readable without a key)."""

    def __init__(self, root: str, *, clock=None):
        self.root = root
        self.clock = clock or (lambda: now())
        os.makedirs(root, mode=0o700, exist_ok=True)

    # --- reading ---

    def get(self, key: bytes, upload_id: str) -> Upload | None:
        """The owner's upload, if it exists and has not expired."""
        if not valid_id(upload_id):
            return None
        upload = self._load(os.path.join(self.root, owner_of(key), upload_id))
        if upload is None or upload.expires <= self.clock():
            return None
        return upload

    def owned(self, key: bytes) -> list[Upload]:
        folder = os.path.join(self.root, owner_of(key))
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return []
        found = [self._load(os.path.join(folder, name)) for name in names if valid_id(name)]
        return sorted((u for u in found if u and u.expires > self.clock()), key=lambda u: u.created)

    def pending_bytes(self) -> int:
        """The bytes still expected by every upload on the server (what they may yet add to the disk)."""
        total = 0
        for owner in self._folders(self.root):
            for folder in self._folders(owner):
                upload = self._load(folder)
                if upload and upload.state == "receiving" and upload.expires > self.clock():
                    total += upload.length - upload.offset()
        return total

    # --- writing ---

    def create(self, key: bytes, length: int, name: str, *, seconds: int = EXPIRE_SECONDS) -> Upload:
        """A new, empty upload of ``length`` bytes for the key's owner."""
        now = self.clock()
        owner = os.path.join(self.root, owner_of(key))
        os.makedirs(owner, mode=0o700, exist_ok=True)
        upload_id = secrets.token_hex(ID_LENGTH // 2)
        folder = os.path.join(owner, upload_id)
        os.mkdir(folder, 0o700)
        name_nonce = secrets.token_bytes(8)
        sealed = name_nonce + cipher_at(key, name_nonce, 0).update(name[:NAME_MAX].encode())
        upload = Upload(
            id=upload_id,
            folder=folder,
            length=length,
            created=now,
            expires=now + seconds,
            state="receiving",
            nonce=secrets.token_hex(8),
            name_sealed=sealed.hex(),
        )
        open(upload.data_path, "wb").close()
        self._save(upload)
        return upload

    def append(self, key: bytes, upload: Upload, offset: int, stream) -> int:
        """Add the bytes of ``stream`` at ``offset`` (which must be what the server has), encrypted as they come;
        return the new offset. What arrived before a connection broke off is kept: the client resumes there."""
        with open(upload.data_path, "r+b") as data:
            try:
                fcntl.flock(data, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise Refused(423) from None  # another request is appending to it right now
            have = os.fstat(data.fileno()).st_size
            if upload.state != "receiving" or offset != have:
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
            if stream.read(1):
                raise Refused(413)  # more than the upload's length: what fitted is kept, the rest refused
        return position

    def finish(self, key: bytes, upload: Upload, limits: intake.Limits, settings, workdir: str) -> Upload:
        """Check and scrub a complete upload in the sandbox, as the forms' files are; keep only the clean result,
        encrypted. A refusal is kept too, with its messages, so that the page can show why."""
        folder = tempfile.mkdtemp(dir=workdir)
        try:
            original = os.path.join(folder, "original")
            self._decrypt(key, upload.data_path, upload.nonce, original)
            received, problems = intake.check_file(original, upload.name(key), limits)
            if received:
                cleaned, problems = intake.rebuild([received], settings, folder)
                if cleaned:
                    self._seal_clean(key, upload, cleaned[0])
            if problems:
                upload.state, upload.messages = "refused", problems
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(upload.data_path)  # the original goes at once
        self._save(upload)
        return upload

    def keep(self, key: bytes, received: intake.Upload, *, seconds: int = KEPT_SECONDS) -> Upload:
        """Keep a scrubbed file of a form that came back with an error, for this session only."""
        upload = self.create(key, received.size, received.name, seconds=seconds)
        os.remove(upload.data_path)
        self._seal_clean(key, upload, received)
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
        upload.expires = self.clock() + seconds
        self._save(upload)

    def delete(self, upload: Upload) -> None:
        shutil.rmtree(upload.folder, ignore_errors=True)

    def collect(self) -> int:
        """Remove every upload that has expired (and what a crash left half made); return how many."""
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

    def _seal_clean(self, key: bytes, upload: Upload, received: intake.Upload) -> None:
        nonce = secrets.token_hex(8)
        self._encrypt(key, received.clean_path, nonce, os.path.join(upload.folder, "clean"))
        previews = []
        for index, path in enumerate(received.previews):
            preview_nonce = secrets.token_hex(8)
            self._encrypt(key, path, preview_nonce, os.path.join(upload.folder, f"preview-{index}"))
            previews.append(preview_nonce)
        upload.state = "clean"
        upload.clean = {
            "type": received.type,
            "size": received.size,
            "sha256": received.sha256,
            "width": received.width,
            "height": received.height,
            "nonce": nonce,
            "previews": previews,
        }
        sealed = secrets.token_bytes(8)
        upload.name_sealed = (sealed + cipher_at(key, sealed, 0).update(received.name.encode())).hex()

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
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return Upload(
            id=os.path.basename(folder),
            folder=folder,
            length=info["length"],
            created=info["created"],
            expires=info["expires"],
            state=info["state"],
            nonce=info["nonce"],
            name_sealed=info["name"],
            clean=info.get("clean") or {},
            messages=info.get("messages") or [],
        )

    @staticmethod
    def _folders(path: str) -> list[str]:
        try:
            return [entry.path for entry in os.scandir(path) if entry.is_dir(follow_symlinks=False)]
        except FileNotFoundError:
            return []
