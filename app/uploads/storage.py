"""One storage door for every stored file: random keys, a containment check, atomic writes.

A backend stores opaque blobs by key. The local backend keeps them outside static/, owner-only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
from typing import BinaryIO, Iterator

_KEY = re.compile(r"^[0-9a-f]{32}(-thumb)?$")


class StorageError(Exception):
    pass


def new_key() -> str:
    return secrets.token_hex(16)


class LocalStorage:
    """Files in one directory, named by random keys, written atomically (temp file + rename)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        os.makedirs(self.root, mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        if not _KEY.match(key or ""):
            raise StorageError("bad key")
        path = os.path.abspath(os.path.join(self.root, key))
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

    def exists(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass

    def keys(self) -> Iterator[str]:
        for name in os.listdir(self.root):
            if _KEY.match(name):
                yield name

    def leftovers(self) -> Iterator[str]:
        """Temporary files of writes that never finished (a crash mid-write)."""
        for name in os.listdir(self.root):
            if name.startswith(".incoming-"):
                yield name

    def remove_leftover(self, name: str) -> None:
        if name.startswith(".incoming-") and "/" not in name:
            os.unlink(os.path.join(self.root, name))


def storage_for(url: str) -> LocalStorage:
    """The backend named by PRYSTAN_STORAGE_URL: a local directory (file:// or a plain path)."""
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url:
        raise StorageError(f"unsupported storage URL scheme: {url.split('://')[0]}")
    return LocalStorage(url)
