"""The key of a form session's files, and what it seals (app/uploads/resumable.py).

The key is made when a form is drawn and lives only in the visitor's session cookie. Everything it seals is
AES-CTR with a nonce of its own: files chunk by chunk at their offset (cipher_at), small values whole (seal).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets

from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

KEY_BYTES = 32


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.urlsafe_b64encode(key).decode()


def decode_key(text: str | bytes | None) -> bytes | None:
    try:
        key = base64.urlsafe_b64decode(text or "")
    except (binascii.Error, ValueError, TypeError):
        return None
    return key if len(key) == KEY_BYTES else None


def owner_of(key: bytes) -> str:
    """A folder name for the key's files, from which the key cannot be found."""
    return hashlib.sha256(b"prystan upload owner\0" + key).hexdigest()[:32]


def cipher_at(key: bytes, nonce: bytes, offset: int) -> CipherContext:
    """An AES-CTR stream for the byte at ``offset`` of a file with this nonce (8 bytes, then the block counter)."""
    block, skip = divmod(offset, 16)
    stream = Cipher(algorithms.AES(key), modes.CTR(nonce + block.to_bytes(8, "big"))).encryptor()
    if skip:
        stream.update(b"\0" * skip)
    return stream


def seal(key: bytes, data: bytes) -> str:
    nonce = secrets.token_bytes(8)
    return (nonce + cipher_at(key, nonce, 0).update(data)).hex()


def unseal(key: bytes, sealed: str) -> bytes:
    raw = bytes.fromhex(sealed)
    return cipher_at(key, raw[:8], 0).update(raw[8:])
