"""The one module that calls libsodium (through PyNaCl): every other module, app/crypto's own included, seals and
opens through these functions, so the scheme in AT-REST.md is read in one place (tests/test_crypto_door.py holds the
code to it).

- Key pairs (X25519) and sealed boxes (``crypto_box_seal``): anyone with a public key seals, only the secret key
  opens. The public forms hold public keys only.
- Secret boxes (XSalsa20-Poly1305, a random 24-byte nonce in front): what one random key closes.
- Argon2id: a key from a password or a receipt code, with its own salt and costs (settings).
- BLAKE2b: digests and subkeys (``split``).
- Secretstream (XChaCha20-Poly1305): files, in chunks, each authenticated, the last one marked final, so that a
  file cut short or reordered is refused.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import nacl.bindings as sodium
import nacl.exceptions
import nacl.utils
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.pwhash import argon2id
from nacl.secret import SecretBox

KEY_BYTES = 32
SALT_BYTES = argon2id.SALTBYTES
# libsodium's floor: the test suite runs with it (NOTES.md), production with the settings.
ARGON2_MIN = (argon2id.OPSLIMIT_MIN, argon2id.MEMLIMIT_MIN)
ARGON2_MAX = (argon2id.OPSLIMIT_MAX, argon2id.MEMLIMIT_MAX)
STREAM_CHUNK = 64 * 1024
STREAM_HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
STREAM_OVERHEAD = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL


class Refused(ValueError):
    """What was given does not open: a wrong key, or sealed data changed, cut short or made up."""


class KeyPair(NamedTuple):
    public: bytes
    secret: bytes


def random_bytes(size: int = KEY_BYTES) -> bytes:
    return nacl.utils.random(size)


def new_pair() -> KeyPair:
    key = PrivateKey.generate()
    return KeyPair(bytes(key.public_key), bytes(key))


def public_of(secret: bytes) -> bytes:
    return bytes(PrivateKey(secret).public_key)


def seal(public: bytes, data: bytes) -> bytes:
    """Seal ``data`` to a public key: only its secret key opens it; nothing says who sealed it. Refused for a
    public key that is no key (libsodium refuses points of small order, such as 32 zero bytes)."""
    try:
        return bytes(SealedBox(PublicKey(public)).encrypt(data))
    except (nacl.exceptions.RuntimeError, nacl.exceptions.TypeError, nacl.exceptions.ValueError) as error:
        raise Refused("not a public key one can seal to") from error


def unseal(secret: bytes, sealed: bytes) -> bytes:
    try:
        return bytes(SealedBox(PrivateKey(secret)).decrypt(sealed))
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, nacl.exceptions.ValueError) as error:
        raise Refused("sealed box does not open") from error


def close(key: bytes, data: bytes) -> bytes:
    """Encrypt and authenticate ``data`` under a 32-byte key (a random nonce in front)."""
    return bytes(SecretBox(key).encrypt(data))


def open_(key: bytes, closed: bytes) -> bytes:
    try:
        return bytes(SecretBox(key).decrypt(closed))
    except (nacl.exceptions.CryptoError, nacl.exceptions.TypeError, nacl.exceptions.ValueError) as error:
        raise Refused("secret box does not open") from error


def argon2(secret: bytes, salt: bytes, *, ops: int, mem: int, size: int = KEY_BYTES) -> bytes:
    """A key from a password or a code: memory-hard, so that guessing costs what ``ops`` and ``mem`` say."""
    return bytes(argon2id.kdf(size, secret, salt, opslimit=ops, memlimit=mem))


def digest(data: bytes, *, key: bytes = b"", person: bytes = b"", size: int = KEY_BYTES) -> bytes:
    """BLAKE2b (keyed where ``key`` is given; ``person`` separates uses, up to 16 bytes)."""
    return hashlib.blake2b(data, key=key, person=person, digest_size=size).digest()


def split(master: bytes, *names: bytes) -> list[bytes]:
    """Independent subkeys of one master key, one per name (BLAKE2b keyed by the master)."""
    return [digest(name, key=master, person=b"prystan-split") for name in names]


def same(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def fingerprint(public: bytes) -> str:
    """A public key as people compare it: 16 groups of 4 hex digits of its BLAKE2b digest."""
    text = digest(public, person=b"prystan-fpr").hex()
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def encrypt_stream(key: bytes, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Encrypt a file, given in pieces of any size: the header, then the file in sealed chunks of STREAM_CHUNK bytes
    (each STREAM_OVERHEAD bytes longer), the last one shorter or full, and marked final (an empty one for an empty
    file). decrypt_stream() relies on this layout: every chunk but the last is a full one."""
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    yield bytes(sodium.crypto_secretstream_xchacha20poly1305_init_push(state, key))
    push = sodium.crypto_secretstream_xchacha20poly1305_push
    message = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
    buffer = bytearray()
    for piece in pieces:
        buffer += piece
        while len(buffer) > STREAM_CHUNK:  # (a full chunk waits until more comes: it may be the last)
            yield bytes(push(state, bytes(buffer[:STREAM_CHUNK]), tag=message))
            del buffer[:STREAM_CHUNK]
    yield bytes(push(state, bytes(buffer), tag=_FINAL))


def decrypt_stream(key: bytes, pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Decrypt what encrypt_stream() wrote, given as the raw bytes in pieces of any size. Refused (after yielding what
    was authentic so far) if a chunk was changed, moved or cut, if the final chunk never comes, or if anything
    follows it."""
    sealed_chunk = STREAM_CHUNK + STREAM_OVERHEAD
    buffer = bytearray()
    state: sodium.crypto_secretstream_xchacha20poly1305_state | None = None
    done = False
    for piece in pieces:
        buffer += piece
        if state is None:
            if len(buffer) < STREAM_HEADER_BYTES:
                continue
            state = _pull_state(key, bytes(buffer[:STREAM_HEADER_BYTES]))
            del buffer[:STREAM_HEADER_BYTES]
        while len(buffer) > sealed_chunk:  # (the last chunk may be a full one: keep it until the end is known)
            if done:
                raise Refused("data after the final chunk")
            plain, done = _pull(state, bytes(buffer[:sealed_chunk]))
            del buffer[:sealed_chunk]
            yield plain
    if state is None or not buffer:
        raise Refused("file cut short")
    if done:
        raise Refused("data after the final chunk")
    plain, done = _pull(state, bytes(buffer))
    if not done:
        raise Refused("file cut short")
    yield plain


def _pull_state(key: bytes, header: bytes) -> sodium.crypto_secretstream_xchacha20poly1305_state:
    state = sodium.crypto_secretstream_xchacha20poly1305_state()
    try:
        sodium.crypto_secretstream_xchacha20poly1305_init_pull(state, header, key)
    except nacl.exceptions.CryptoError as error:
        raise Refused("file header does not open") from error
    return state


def _pull(state: sodium.crypto_secretstream_xchacha20poly1305_state, sealed: bytes) -> tuple[bytes, bool]:
    """One chunk's plain text, and whether it is the final one."""
    try:
        plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(state, sealed, None)
    except nacl.exceptions.CryptoError as error:
        raise Refused("file chunk does not open") from error
    return bytes(plain), tag == _FINAL
