"""A staff member's key pair: X25519, the secret key closed under a KEK that Argon2id derives from the password
with a salt of its own and costs stronger than the password hash's (KEK_OPSLIMIT, KEK_MEMLIMIT). The stored hash
is never the key: what opens the secret key is only ever typed.

A locked key is one blob: a version byte, the costs and the salt it was made with (so that raising the costs later
leaves older keys readable), then the secret box. app/staff.py decides when a pair is made or re-locked.
"""

from __future__ import annotations

import struct

from flask import current_app

from app.crypto import sodium

_HEADER = struct.Struct(f">BIQ{sodium.SALT_BYTES}s")
_VERSION = 1
# Costs read from a stored key are trusted up to this much memory and time (64 passes over 1 GiB: about a minute
# here): whoever can write the database must not make a sign-in ask libsodium for terabytes or hours.
MEMLIMIT_CAP = 2**30
OPSLIMIT_CAP = 64
Refused = sodium.Refused


def _kek(password: str, salt: bytes, ops: int, mem: int) -> bytes:
    return sodium.argon2(password.encode(), salt, ops=ops, mem=mem)


def lock(secret: bytes, password: str) -> bytes:
    """Close a staff secret key under ``password``, with a fresh salt and today's costs."""
    config = current_app.config
    ops, mem = int(config["KEK_OPSLIMIT"]), int(config["KEK_MEMLIMIT"])
    salt = sodium.random_bytes(sodium.SALT_BYTES)
    return _HEADER.pack(_VERSION, ops, mem, salt) + sodium.close(_kek(password, salt, ops, mem), secret)


def unlock(locked: bytes, password: str) -> bytes:
    """The secret key, if ``password`` opens it (sodium.Refused if not)."""
    if len(locked) <= _HEADER.size:
        raise sodium.Refused("not a locked key")
    version, ops, mem, salt = _HEADER.unpack_from(locked)
    if version != _VERSION:
        raise sodium.Refused("unknown locked key version")
    (min_ops, min_mem), (max_ops, max_mem) = sodium.ARGON2_MIN, sodium.ARGON2_MAX
    if not (
        min_ops <= ops <= min(max_ops, OPSLIMIT_CAP) and min_mem <= mem <= min(max_mem, MEMLIMIT_CAP)
    ):  # damaged: refused, as a wrong password is
        raise sodium.Refused("locked key costs out of range")
    return sodium.open_(_kek(password, salt, ops, mem), locked[_HEADER.size :])


def new_pair(password: str) -> tuple[bytes, bytes]:
    """A new pair for an account: (public key, secret key locked under ``password``)."""
    pair = sodium.new_pair()
    return pair.public, lock(pair.secret, password)


def relock(locked: bytes, current: str, new: str) -> bytes:
    """The same secret key under a new password (sodium.Refused if ``current`` does not open it)."""
    return lock(unlock(locked, current), new)
