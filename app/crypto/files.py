"""A stored file's encryption (AT-REST.md, "files, previews, poster frames"): each file gets a random key of its own,
sealed to its submission's public key; the file and each of its previews are encrypted (secretstream, in chunks
that are each authenticated) under subkeys of it, so that no two stored blobs share a key. Storage holds only the
ciphertext; it is decrypted as a stream when staff download it, never whole in memory.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import BinaryIO

from app.crypto import sodium

READ = 256 * 1024  # bytes read from a file at a time, either way
Refused = sodium.Refused  # what a changed or cut stored file raises while it is read


def new_key() -> bytes:
    return sodium.random_bytes()


def part_key(file_key: bytes, part: str) -> bytes:
    """The key of one stored part: "file", or "preview0", "preview1"…"""
    return sodium.split(file_key, part.encode())[0]


def seal_key(item_public: bytes, file_key: bytes) -> bytes:
    return sodium.seal(item_public, file_key)


def open_key(item_secret: bytes, sealed: bytes) -> bytes | None:
    try:
        return sodium.unseal(item_secret, sealed)
    except sodium.Refused:
        return None


def _pieces(source: BinaryIO) -> Iterator[bytes]:
    while piece := source.read(READ):
        yield piece


def encrypt(key: bytes, source_path: str, target_path: str) -> None:
    """Write ``source_path`` encrypted under ``key`` to ``target_path`` (created owner-only)."""
    descriptor = os.open(target_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(source_path, "rb") as source, os.fdopen(descriptor, "wb") as target:
        for piece in sodium.encrypt_stream(key, _pieces(source)):
            target.write(piece)


class Decrypting(io.RawIOBase):
    """A stored file read as its plain bytes, a chunk at a time (what send_file streams). A chunk that does not
    open (changed, cut short) raises sodium.Refused: the response stops there."""

    def __init__(self, key: bytes, stored: BinaryIO):
        self._stored = stored
        self._plain = sodium.decrypt_stream(key, _pieces(stored))
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]  # (io's own signature: a writable buffer)
        while not self._left:
            try:
                self._left = next(self._plain)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size

    def close(self) -> None:
        self._stored.close()
        super().close()


def decrypting(key: bytes, stored: BinaryIO) -> BinaryIO:
    return io.BufferedReader(Decrypting(key, stored), READ)
