"""One file on its way into a form, as it lies on disk (app/uploads/resumable.py keeps the store of them).

One folder per file, under the owner's folder (``<root>/<owner>/<id>/``):
- ``info.json``: the state, the times (to the minute), the counts that bound one upload's work, and sealed with the
  key: the name, and once finished the original's length and the clean file's description (type, size, sha256) or
  the codes of why it was refused. Nothing in it names the file, hashes it or dates it to the second;
- ``data``: the original, encrypted, while it is being received (deleted once it is scrubbed);
- ``clean`` and ``preview-<n>``: the scrubbed file and its previews, encrypted (libsodium secretstream) under the
  parts of a key of the file's own (app/crypto/files.py), which ``info.json`` keeps sealed with the session's key:
  at submission that key is sealed to the submission and these files are stored as they are, never decrypted;
- ``finishing``: an empty file, flock'd by the request that is finishing the upload.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from app.crypto import files
from app.uploads import intake, ledger
from app.uploads.sealing import cipher_at, seal, unseal

ID_LENGTH = 32  # hex characters
CHUNK = 256 * 1024  # what one read from the request takes
NAME_MAX = 255
# Times are kept to the minute: the shortest clock the store runs is the ten minutes of IDLE_SECONDS, which a
# minute keeps within a tenth, and nothing needs the second a person was here.
ROUND_SECONDS = 60


class Readable(Protocol):
    """What an upload's bytes are read from: a request's stream (or app/submit/tus.py's Counted around it)."""

    def read(self, size: int = -1, /) -> bytes: ...


def minute_down(moment: float) -> int:
    return math.floor(moment / ROUND_SECONDS) * ROUND_SECONDS


def minute_up(moment: float) -> int:
    return math.ceil(moment / ROUND_SECONDS) * ROUND_SECONDS


def valid_id(text: str) -> bool:
    return isinstance(text, str) and len(text) == ID_LENGTH and all(c in "0123456789abcdef" for c in text)


class UploadRefused(Exception):
    """The upload cannot be taken: ``status`` is the HTTP answer, ``message`` what to tell the person."""

    def __init__(self, status: int, message: str = ""):
        super().__init__(message or str(status))
        self.status, self.message = status, message


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
    clean: dict[str, Any] = field(
        default_factory=dict
    )  # the clean file: type, size, sha256, width, height, previews, nonces
    refusals: list[list[Any]] = field(default_factory=list)  # why it was refused: [code, number] pairs (intake.Refusal)
    # Held by the request that brought it to "finishing", until it has finished it (append, finish):
    finishing_lock: IO[str] | None = field(default=None, repr=False, compare=False)

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

    def info(self) -> dict[str, Any]:
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


def seal_clean(key: bytes, upload: PendingUpload, received: intake.Received) -> None:
    """Keep a scrubbed file and its previews, encrypted under a key of the file's own, itself sealed (in
    ``result``) under the session's ``key``."""
    file_key = files.new_key()
    files.encrypt(files.part_key(file_key, "file"), received.clean_path, os.path.join(upload.folder, "clean"))
    for index, path in enumerate(received.previews):
        files.encrypt(
            files.part_key(file_key, f"preview{index}"), path, os.path.join(upload.folder, f"preview-{index}")
        )
    upload.clean = {
        "type": received.type,
        "size": received.size,
        "sha256": received.sha256,
        "width": received.width,
        "height": received.height,
        "file_key": file_key.hex(),
        "previews": len(received.previews),
    }
    upload.name_sealed = seal(key, received.name.encode())


def crypt(key: bytes, source: str, nonce: str, target: str) -> None:
    """Encrypt or decrypt ``source`` into ``target`` (AES-CTR: the same stream both ways)."""
    stream = cipher_at(key, bytes.fromhex(nonce), 0)
    with open(source, "rb") as src, open(target, "wb") as dst:
        while chunk := src.read(1024 * 1024):
            dst.write(stream.update(chunk))


def save(upload: PendingUpload) -> None:
    temporary = os.path.join(upload.folder, "info.json.new")
    with open(temporary, "w") as f:
        json.dump(upload.info(), f)
    os.replace(temporary, os.path.join(upload.folder, "info.json"))


def load(folder: str) -> PendingUpload | None:
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


def folders(path: str) -> list[str]:
    try:
        return [entry.path for entry in os.scandir(path) if entry.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
