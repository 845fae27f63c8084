"""The offline recovery key, and older epochs given without an admin (AT-REST.md; deploy/README.md, "The recovery
key", walks through the ceremony). The recovery secret never touches the server (SecureDrop's model):

- keygen() runs on an admin's own machine and needs no database. The server keeps only the public part
  (PRYSTAN_RECOVERY_PUBLIC_KEY); each queue epoch is sealed to it too (app/crypto/epochs.py), and the key's
  fingerprint is kept in the database at its first use.
- recover() runs on a copy of the database on another machine, when no one who holds the epochs is left: the secret
  opens each epoch's recovery wrap, and each epoch's secret key is sealed to one moderator's or admin's public key,
  as a grants file. It writes nothing to the database.
- import_grants() runs on the server: it keeps those wraps for that account, if its key is still the one the file
  was sealed to.
- use_configured_key() makes a newly configured recovery key the one in use (the old one's wraps go).
- unlock_holder() opens the key of a moderator or admin from its password, for `flask crypto grant`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

from sqlalchemy import select

from app import staff
from app.audit import record
from app.crypto import epochs, sodium
from app.extensions import db
from app.models import EpochWrap, QueueEpoch, User
from app.passwords import verify

GRANTS_VERSION = 1
# A sealed box holds a one-time public key (32 bytes) and a MAC (16) besides what it seals: here a 32-byte key.
SEALED_BYTES = sodium.KEY_BYTES + 48


class RecoveryError(ValueError):
    """What the command line says when it refuses (plain English: the command line is not translated)."""


class NewKey(NamedTuple):
    public: str  # base64, for PRYSTAN_RECOVERY_PUBLIC_KEY
    fingerprint: str
    secret: str  # base64, shown once


@dataclass
class Grants:
    """What a grants file holds: epochs' secret keys, each sealed to one account's public key."""

    user: str
    public_key: bytes
    grants: list[tuple[int, bytes]] = field(default_factory=list)
    not_recoverable: list[int] = field(default_factory=list)  # epochs with no recovery wrap (recover() only)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def keygen() -> NewKey:
    """A new recovery key pair. No database: it is made on an admin's own machine."""
    pair = sodium.new_pair()
    return NewKey(_b64(pair.public), sodium.fingerprint(pair.public), _b64(pair.secret))


def parse_secret(text: str) -> bytes:
    """The recovery secret as typed back from paper or read from a stick (spaces and line breaks are ignored)."""
    try:
        return epochs.parse_public("".join(text.split()))
    except ValueError:
        raise RecoveryError(
            "That is not a recovery secret key: it is 44 characters of base64, as recovery-keygen printed it."
        ) from None


def _reader(username: str) -> User:
    user = staff.find(username)
    if user is None:
        raise RecoveryError(f"No user {username!r}.")
    if not staff.may_receive(user):
        raise RecoveryError(
            f"{username!r} is not an active moderator or admin with a key pair and a password of its own: "
            "it may not be given epochs."
        )
    return user


def recover(secret: bytes, username: str) -> Grants:
    """Open every epoch's recovery wrap with the recovery secret and seal each epoch's secret key to ``username``'s
    public key. Reads the database only (run it on a copy, elsewhere); RecoveryError if the secret is not the
    recovery key this database was sealed to, or if the account may not read."""
    kept = epochs.kept_fingerprint()
    if kept is None:
        raise RecoveryError("No recovery key was ever used with this database: it holds nothing a recovery key opens.")
    if not sodium.same(sodium.fingerprint(sodium.public_of(secret)).encode(), kept.encode()):
        raise RecoveryError(
            f"This secret is not the recovery key this database was sealed to (fingerprint {kept}). "
            "Check what you typed, or find the right key."
        )
    user = _reader(username)
    public = cast("bytes", user.public_key)  # (a reader has a key pair)
    query = select(EpochWrap.epoch_id, EpochWrap.sealed).where(EpochWrap.holder == "recovery")
    wraps = {epoch_id: sealed for epoch_id, sealed in db.session.execute(query)}
    found = Grants(user=user.username, public_key=public)
    for epoch_id, epoch_public in db.session.execute(
        select(QueueEpoch.id, QueueEpoch.public_key).order_by(QueueEpoch.id)
    ):
        sealed = wraps.get(epoch_id)
        if sealed is None:
            found.not_recoverable.append(epoch_id)
            continue
        try:
            epoch_secret = sodium.unseal(secret, sealed)
        except sodium.Refused:
            raise RecoveryError(f"Epoch {epoch_id}'s recovery wrap does not open: the database is damaged.") from None
        if not sodium.same(sodium.public_of(epoch_secret), epoch_public):
            raise RecoveryError(f"Epoch {epoch_id}'s recovery wrap holds another key: the database is damaged.")
        found.grants.append((epoch_id, sodium.seal(public, epoch_secret)))
    db.session.rollback()  # (nothing was written: nothing is left open either)
    return found


def write_grants(path: str, grants: Grants) -> None:
    """Write a grants file, readable by its owner alone; a file already there is left as it is (RecoveryError)."""
    text = json.dumps(
        {
            "version": GRANTS_VERSION,
            "user": grants.user,
            "public_key": _b64(grants.public_key),
            "grants": [{"epoch": epoch_id, "sealed": _b64(sealed)} for epoch_id, sealed in grants.grants],
        },
        indent=1,
    )
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RecoveryError(f"{path} exists already: name another file, or remove it first.") from None
    with os.fdopen(handle, "w") as out:
        out.write(text + "\n")


def read_grants(path: str) -> Grants:
    """A grants file that recover() wrote (RecoveryError if it is not one)."""
    try:
        with open(path) as source:
            data = json.load(source)
        return _grants_from(data)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise RecoveryError(f"{path} is not a grants file written by flask crypto recover ({error}).") from None


def _grants_from(data: dict[str, Any]) -> Grants:
    if data["version"] != GRANTS_VERSION:
        raise ValueError(f"version {data['version']!r}")
    if not isinstance(data["user"], str):
        raise ValueError("no user name")
    found = Grants(user=data["user"], public_key=epochs.parse_public(data["public_key"]))
    for grant in data["grants"]:
        epoch_id = grant["epoch"]
        try:
            sealed = base64.b64decode(grant["sealed"], validate=True)
        except binascii.Error as error:
            raise ValueError("a grant that is not base64") from error
        if type(epoch_id) is not int or len(sealed) != SEALED_BYTES:
            raise ValueError("a grant that is not an epoch's sealed key")
        found.grants.append((epoch_id, sealed))
    return found


def import_grants(grants: Grants) -> int:
    """Keep the epochs of a grants file for its account, those it does not hold yet: an audit event. Refused if
    the account's key is no longer the one they were sealed to. Returns how many epochs it gained."""
    user = _reader(grants.user)
    if user.public_key is None or not sodium.same(user.public_key, grants.public_key):
        raise RecoveryError(
            f"{grants.user!r} has another key pair than the one these grants were sealed to: its key changed since "
            "(a password set by an admin or on the command line, or its first password changed). Run recover again "
            "on a copy of the database made now."
        )
    added = sum(epochs.add_wrap(epoch_id, user, sealed) for epoch_id, sealed in grants.grants)
    record("grants_imported", None, detail=f"user {user.id}: {added} epochs")
    db.session.commit()
    return added


def replacement() -> str:
    """The fingerprint of the configured recovery key that use_configured_key() would put in use (RecoveryError if
    there is none, or if it is in use already)."""
    try:
        state, shown = epochs.recovery_state()
    except ValueError:
        raise RecoveryError("PRYSTAN_RECOVERY_PUBLIC_KEY is not a key: 44 characters of base64.") from None
    if state == "none" or shown is None:
        raise RecoveryError(
            "No recovery key is configured: set PRYSTAN_RECOVERY_PUBLIC_KEY to the new public key first."
        )
    if state == "in use" and epochs.kept_fingerprint() is not None:
        raise RecoveryError(f"The configured recovery key ({shown}) is already the one in use.")
    return shown


def use_configured_key() -> str:
    """Use the configured recovery key from now on: the old one's wraps go. Returns its fingerprint."""
    shown = replacement()
    epochs.replace_recovery_key()
    return shown


def unlock_holder(holder: User, password: str) -> bytes:
    """The secret key of a moderator or admin who holds epochs, opened with its password (RecoveryError if the
    password is wrong, or if it holds none)."""
    if not verify(holder.password_hash, password):
        raise RecoveryError(f"Wrong password for {holder.username!r}.")
    if not epochs.held(holder):
        raise RecoveryError(f"{holder.username!r} holds no epochs: ask one who does.")
    secret = staff.open_key(holder, password)
    if secret is None:
        raise RecoveryError(f"{holder.username!r}'s key does not open with its password: ask another holder.")
    return secret
