"""The queue key, in epochs (AT-REST.md). Each new submission is sealed to the newest epoch's public key; each
epoch's secret key is sealed to every moderator and admin (their public keys: nobody need be signed in to make
one), and to the offline recovery key if one is configured. A new epoch begins whenever the set of people who may
read changes (app/staff.py says when), so a newcomer reads what arrives after them at once, and older epochs only
by a grant; a person removed loses their wraps, and nothing later is sealed where they could open it.

current() reads the newest epoch from the database on every call: no worker keeps sealing to an epoch that ended.
rotate() takes a write lock first, so that two changes at once cannot make an epoch from a stale list.

Before any moderator or admin exists (a fresh install), an epoch is sealed under a key derived from SECRET_KEY
("install"), and only until the first one exists: then it is sealed to them, that wrap goes and a new epoch begins.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from datetime import date, datetime

from flask import current_app
from sqlalchemy import delete, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.audit import record
from app.crypto import sodium
from app.extensions import db
from app.models import PERMISSIONS, EpochWrap, KeySetting, QueueEpoch, User
from app.security import derive_key

READER_ROLES = PERMISSIONS["moderate"]
# Before the first epoch of any site: a grant since an earlier day gives everything (and no earlier day is
# converted between time zones, which could overflow).
EARLIEST_DAY = date(2000, 1, 1)
_LOCK = "epoch_lock"
_RECOVERY = "recovery_fingerprint"
_MISMATCH = "recovery_mismatch"
_READ = "readers_seen"  # set once a moderator or admin has held an epoch: no longer a fresh install


def readers() -> list[User]:
    """Everyone an epoch is sealed to: active moderators and admins with a key pair."""
    query = select(User).where(User.active, User.role.in_(READER_ROLES), User.public_key.is_not(None))
    return list(db.session.scalars(query.order_by(User.id)))


def current() -> QueueEpoch:
    """The epoch new submissions are sealed to (the first one is made here, on a fresh install)."""
    epoch = db.session.scalar(select(QueueEpoch).order_by(QueueEpoch.id.desc()).limit(1))
    return epoch if epoch is not None else rotate("first")


def rotate(reason: str) -> QueueEpoch:
    """Begin a new epoch, sealed to whoever may read now (the caller has flushed the change that made it needed,
    and commits)."""
    lock()
    db.session.flush()
    pair = sodium.new_pair()
    epoch = QueueEpoch(public_key=pair.public, reason=reason[: QueueEpoch.REASON_MAX])
    db.session.add(epoch)
    db.session.flush()
    people = readers()
    for person in people:
        _wrap(epoch.id, person, pair.secret)
    recovery = recovery_key()
    if recovery is not None:
        db.session.add(EpochWrap(epoch_id=epoch.id, holder="recovery", sealed=sodium.seal(recovery, pair.secret)))
    if people:
        _hand_over_install(people)
    elif recovery is None or _setting(_READ) is None:  # (a fresh install's first reader receives it, recovery or not)
        db.session.add(EpochWrap(epoch_id=epoch.id, holder="install", sealed=sodium.close(_install_key(), pair.secret)))
    db.session.flush()
    return epoch


def lock() -> None:
    """Serialise changes of who may read, until the transaction ends: an UPDATE of one row takes SQLite's write
    lock and PostgreSQL's row lock at once (a check of the readers made after it sees every change before it).

    The first change makes the row. Of two first changes at once, the second's insert waits for the first to end
    and then does nothing (a plain insert would fail on PostgreSQL), and its UPDATE takes the lock."""
    if not _update_lock():
        insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        db.session.execute(insert(KeySetting).values(name=_LOCK, value="1").on_conflict_do_nothing())
        _update_lock()


def _update_lock() -> int:
    taken = db.session.execute(update(KeySetting).where(KeySetting.name == _LOCK).values(value=KeySetting.value))
    return int(taken.rowcount)  # type: ignore[attr-defined]


def _wrap(epoch_id: int, person: User, epoch_secret: bytes) -> None:
    if person.public_key is None:
        raise ValueError("an account without a key pair holds no epoch")
    db.session.add(
        EpochWrap(
            epoch_id=epoch_id, user_id=person.id, holder="staff", sealed=sodium.seal(person.public_key, epoch_secret)
        )
    )


def _install_key() -> bytes:
    return derive_key(current_app.config["SECRET_KEY"], "install epoch")


def _hand_over_install(people: Sequence[User]) -> None:
    """The first moderator or admin exists: what a fresh install sealed under SECRET_KEY is sealed to them, and
    that wrap goes."""
    if _setting(_READ) is None:
        db.session.add(KeySetting(name=_READ, value="1"))
    for wrap in db.session.scalars(select(EpochWrap).where(EpochWrap.holder == "install")):
        try:
            secret = sodium.open_(_install_key(), wrap.sealed)
        except sodium.Refused:  # SECRET_KEY changed since: nobody can open it, and it must not stop a sign-in
            record("install_epoch_lost", None, detail=f"epoch {wrap.epoch_id}")
            db.session.delete(wrap)
            continue
        for person in people:
            if not holds(person.id, wrap.epoch_id):
                _wrap(wrap.epoch_id, person, secret)
        db.session.delete(wrap)


def holds(user_id: int, epoch_id: int) -> bool:
    mine = (EpochWrap.epoch_id == epoch_id, EpochWrap.user_id == user_id, EpochWrap.holder == "staff")
    return bool(db.session.scalar(select(exists().where(*mine))))


def drop_wraps(user: User) -> None:
    """The account may no longer read: every epoch sealed to it goes (the caller begins a new epoch)."""
    db.session.execute(delete(EpochWrap).where(EpochWrap.user_id == user.id))


def held(user: User) -> list[int]:
    """The epochs the account holds, oldest first."""
    query = select(EpochWrap.epoch_id).where(EpochWrap.user_id == user.id, EpochWrap.holder == "staff")
    return list(db.session.scalars(query.order_by(EpochWrap.epoch_id)))


def open_epoch(user: User, staff_secret: bytes, epoch_id: int) -> bytes | None:
    """An epoch's secret key, if the account holds it (its unlocked secret key opens the wrap)."""
    sealed = db.session.scalar(
        select(EpochWrap.sealed).where(
            EpochWrap.epoch_id == epoch_id, EpochWrap.user_id == user.id, EpochWrap.holder == "staff"
        )
    )
    if sealed is None:
        return None
    try:
        return sodium.unseal(staff_secret, sealed)
    except sodium.Refused:  # a damaged wrap opens nothing: the others still do
        return None


def epochs_since(since: datetime | None) -> list[int]:
    """Epochs that were current at ``since`` or later (all of them for None), oldest first."""
    rows = db.session.execute(select(QueueEpoch.id, QueueEpoch.created_at).order_by(QueueEpoch.id)).all()
    chosen = []
    for index, (epoch_id, _made) in enumerate(rows):
        ended = rows[index + 1][1] if index + 1 < len(rows) else None
        if since is None or ended is None or ended >= since:
            chosen.append(epoch_id)
    return chosen


def grant(giver: User, giver_secret: bytes, receiver: User, since: datetime | None) -> int:
    """Seal to ``receiver`` the epochs since ``since`` (all: None) that ``giver`` holds and it does not. Returns
    how many. The receiver must be one who may read."""
    if receiver.public_key is None or not receiver.active or receiver.role not in READER_ROLES:
        raise ValueError("only an active moderator or admin with a key pair receives epochs")
    given = 0
    have = set(held(receiver))
    for epoch_id in epochs_since(since):
        if epoch_id in have or (secret := open_epoch(giver, giver_secret, epoch_id)) is None:
            continue
        _wrap(epoch_id, receiver, secret)
        given += 1
    db.session.flush()
    return given


def carry(user: User, epoch_secrets: dict[int, bytes]) -> None:
    """Seal epochs the account held under its old key pair to its new public key (a first password replaced)."""
    for epoch_id, secret in epoch_secrets.items():
        if not holds(user.id, epoch_id):
            _wrap(epoch_id, user, secret)


def add_wrap(epoch_id: int, user: User, sealed: bytes) -> bool:
    """Keep an epoch's secret key sealed elsewhere to ``user`` (a recovery's grants). False if it holds it."""
    if holds(user.id, epoch_id) or db.session.get(QueueEpoch, epoch_id) is None:
        return False
    db.session.add(EpochWrap(epoch_id=epoch_id, user_id=user.id, holder="staff", sealed=sealed))
    return True


# The recovery key


def parse_public(text: str) -> bytes:
    """A public key as recovery-keygen prints it (base64 of 32 bytes); ValueError if it is not one."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("not a base64 key") from error
    if len(key) != sodium.KEY_BYTES:
        raise ValueError("a key has 32 bytes")
    try:
        sodium.seal(key, b"")
    except sodium.Refused as error:
        raise ValueError("not a key one can seal to") from error
    return key


def _setting(name: str) -> str | None:
    row = db.session.get(KeySetting, name)
    return row.value if row else None


def kept_fingerprint() -> str | None:
    """The fingerprint of the recovery key in use here, kept at its first use (None: none was ever used)."""
    return _setting(_RECOVERY)


def recovery_state() -> tuple[str, str | None]:
    """("none", None) with no recovery key configured; ("in use", fingerprint); or ("different", fingerprint of
    the configured one) when it is not the key first used here: then it is not sealed to."""
    text = current_app.config.get("RECOVERY_PUBLIC_KEY") or ""
    if not text:
        return "none", None
    shown = sodium.fingerprint(parse_public(text))
    kept = _setting(_RECOVERY)
    if kept is None or kept == shown:
        return "in use", shown
    return "different", shown


def recovery_key() -> bytes | None:
    """The recovery key to seal to: the configured one, if it is the one first used here (its fingerprint is kept
    at first use). A different one is not used, and is an audit event (once for each key)."""
    state, shown = recovery_state()
    if state == "none":
        return None
    key = parse_public(current_app.config["RECOVERY_PUBLIC_KEY"])
    if _setting(_RECOVERY) is None:
        db.session.add(KeySetting(name=_RECOVERY, value=shown))
        record("recovery_key_set", None, detail=f"fingerprint {shown}"[:200])
        db.session.flush()
        return key
    if state == "in use":
        return key
    if _setting(_MISMATCH) != shown:
        db.session.merge(KeySetting(name=_MISMATCH, value=shown))
        record("recovery_key_differs", None, detail=f"configured {shown}"[:200])
        db.session.flush()
    return None


def replace_recovery_key() -> str | None:
    """Use the configured recovery key from now on (flask crypto use-recovery-key): its fingerprint is kept, the
    old key's wraps go, and the epochs are sealed to the new one at the next unlocked admin's request."""
    state, shown = recovery_state()
    if state != "different":  # (none configured, or the one in use: its wraps stay)
        return None
    db.session.merge(KeySetting(name=_RECOVERY, value=shown))
    db.session.execute(delete(KeySetting).where(KeySetting.name == _MISMATCH))
    db.session.execute(delete(EpochWrap).where(EpochWrap.holder == "recovery"))
    record("recovery_key_replaced", None, detail=f"fingerprint {shown}"[:200])
    db.session.commit()
    return shown


def missing_recovery() -> bool:
    """Some epoch is not sealed to the recovery key in use (it was set after the epoch began)."""
    if recovery_state()[0] != "in use":
        return False
    return bool(
        db.session.scalar(
            select(exists().where(~QueueEpoch.id.in_(select(EpochWrap.epoch_id).where(EpochWrap.holder == "recovery"))))
        )
    )


def seal_to_recovery(user: User, staff_secret: bytes) -> int:
    """Seal to the recovery key the epochs that ``user`` holds and it does not (an unlocked reader's request after
    a recovery key was set). Returns how many."""
    key = recovery_key()
    if key is None:
        return 0
    covered = set(db.session.scalars(select(EpochWrap.epoch_id).where(EpochWrap.holder == "recovery")))
    sealed = 0
    for epoch_id in held(user):
        if epoch_id not in covered and (secret := open_epoch(user, staff_secret, epoch_id)) is not None:
            db.session.add(EpochWrap(epoch_id=epoch_id, holder="recovery", sealed=sodium.seal(key, secret)))
            sealed += 1
    if sealed:
        record("recovery_sealed", None, actor_id=user.id, detail=f"{sealed} epochs")
    db.session.commit()
    return sealed
