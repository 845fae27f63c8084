"""One storage door for every stored file: its keys, its errors and the protocol every backend offers.

A backend stores opaque blobs by key: the local one (app/uploads/local.py) in a folder outside static/,
owner-only; the S3 one (app/uploads/s3.py) in a private bucket. app/uploads/stores.py picks the configured one.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from typing import BinaryIO, Protocol

PREVIEWS_MAX = 3  # previews a stored file can have: an image's thumbnail, a PDF's first pages, a video's poster
_KEY = re.compile(rf"[0-9a-f]{{32}}(-thumb[1-{PREVIEWS_MAX - 1}]?|-public|-public-thumb)?")


class StorageError(Exception):
    pass


def own_folder(folder: str) -> os.stat_result:
    """A folder's status, refused if another user made it. A name in a shared place (/dev/shm/prystan-<uid>) can be
    taken first by anyone on the machine, who could then list, swap or delete what the app puts in it; root's own
    shared folders (/dev/shm, /tmp) are allowed."""
    found = os.stat(folder)
    if found.st_uid not in (os.geteuid(), 0):
        raise RuntimeError(f"{folder} belongs to another user (uid {found.st_uid}): remove it, or choose another.")
    return found


def new_key() -> str:
    return secrets.token_hex(16)


def preview_key(key: str, index: int = 0) -> str:
    """The key of a stored file's preview number ``index`` (0: its thumbnail or first page)."""
    if not 0 <= index < PREVIEWS_MAX:
        raise StorageError("no such preview")
    return f"{key}-thumb{index or ''}"


def public_key_name(key: str, *, thumb: bool = False) -> str:
    """The key of a published photo's clear copy (or of its thumbnail's), which readers are sent: the stored file
    itself is encrypted (app/submissions/public_copy.py)."""
    return f"{key}-public-thumb" if thumb else f"{key}-public"


def derived_keys(key: str) -> list[str]:
    """Every key that can belong to a stored file besides its own: storing, deleting and gc all ask here."""
    return [*(preview_key(key, index) for index in range(PREVIEWS_MAX)), *public_names(key)]


def public_names(key: str) -> list[str]:
    return [public_key_name(key), public_key_name(key, thumb=True)]


def is_key(name: str) -> bool:
    """Could new_key() or preview_key() have made this name?"""
    return bool(_KEY.fullmatch(name or ""))


def checked(key: str) -> str:
    """The key itself; any other name is refused before it reaches a backend."""
    if not is_key(key):
        raise StorageError("bad key")
    return key


class Storage(Protocol):
    """What every backend offers; callers know nothing else."""

    def put_file(self, source_path: str, key: str) -> None: ...
    def open(self, key: str) -> BinaryIO: ...
    def delete(self, key: str) -> None: ...
    def keys(self) -> Iterator[str]: ...
    def modified(self, key: str) -> float: ...  # when the file was stored, as a Unix timestamp
    def leftovers(self, older_than: float | None = None) -> Iterator[str]: ...
    def remove_leftover(self, name: str) -> None: ...
