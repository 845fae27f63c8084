"""The local backend: files in one folder outside static/, named by random keys, owner-only, written atomically."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from app.uploads.storage import StorageError, checked, is_key


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
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key))

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
