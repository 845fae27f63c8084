"""One storage door for every stored file: random keys, a containment check, atomic writes.

A backend stores opaque blobs by key. The local backend keeps them outside static/, owner-only; the S3
backend (app/uploads/s3.py) keeps them in a private bucket.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import shutil
import tempfile
from typing import BinaryIO, Iterator, Protocol

from flask import current_app

PREVIEWS_MAX = 3  # previews a stored file can have: an image's thumbnail, a PDF's first pages, a video's poster
_KEY = re.compile(r"[0-9a-f]{32}(-thumb[1-%d]?)?" % (PREVIEWS_MAX - 1))


class StorageError(Exception):
    pass


def new_key() -> str:
    return secrets.token_hex(16)


def preview_key(key: str, index: int = 0) -> str:
    """The key of a stored file's preview number ``index`` (0: its thumbnail or first page)."""
    if not 0 <= index < PREVIEWS_MAX:
        raise StorageError("no such preview")
    return f"{key}-thumb{index or ''}"


def derived_keys(key: str) -> list[str]:
    """Every key that can belong to a stored file besides its own: storing, deleting and gc all ask here."""
    return [preview_key(key, index) for index in range(PREVIEWS_MAX)]


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


class LocalStorage:
    """Files in one directory, named by random keys, written atomically (temp file + rename)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        path = os.path.abspath(os.path.join(self.root, checked(key)))
        if os.path.dirname(path) != self.root:  # containment: never outside the root
            raise StorageError("bad key")
        return path

    def put_file(self, source_path: str, key: str) -> None:
        """Copy a finished file into storage under ``key``; readers never see a partial file."""
        target = self._path(key)
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out, open(source_path, "rb") as src:
                shutil.copyfileobj(src, out, 1024 * 1024)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o600)
            os.replace(temp, target)
        except BaseException as error:
            if os.path.exists(temp):
                os.unlink(temp)
            if isinstance(error, OSError):
                raise StorageError("could not write a file") from error
            raise

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def keys(self) -> Iterator[str]:
        for name in os.listdir(self.root):
            if is_key(name):
                yield name

    def modified(self, key: str) -> float:
        return os.path.getmtime(self._path(key))

    def leftovers(self, older_than: float | None = None) -> Iterator[str]:
        """Temporary files of writes that never finished (a crash mid-write), last written before older_than."""
        for name in os.listdir(self.root):
            if not name.startswith(".incoming-"):
                continue
            if older_than is None or os.path.getmtime(os.path.join(self.root, name)) < older_than:
                yield name

    def remove_leftover(self, name: str) -> None:
        if name.startswith(".incoming-") and "/" not in name:
            os.unlink(os.path.join(self.root, name))


def storage_for(url: str, s3_endpoint_url: str | None = None) -> Storage:
    """The backend named by PRYSTAN_STORAGE_URL: a local directory (file:// or a plain path), or an S3 bucket
    (s3://bucket/optional/prefix), at ``s3_endpoint_url`` if given."""
    if url.startswith("s3://"):
        return _s3_storage(url, s3_endpoint_url or None)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url:
        raise StorageError(f"unsupported storage URL scheme: {url.split('://')[0]}")
    return LocalStorage(url)


def app_storage() -> Storage:
    """The current app's store."""
    return storage_for(current_app.config["STORAGE_URL"], current_app.config.get("S3_ENDPOINT_URL"))


@functools.lru_cache(maxsize=16)
def _s3_storage(url: str, endpoint_url: str | None):
    """One S3 backend (and so one boto3 client, ~50 ms to build) per URL and endpoint, for the process."""
    from app.uploads.s3 import S3Storage  # boto3 is loaded only where S3 is used

    return S3Storage(url, endpoint_url=endpoint_url)
