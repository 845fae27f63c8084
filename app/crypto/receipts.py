"""What a receipt code opens (AT-REST.md, "Receipt"): m = Argon2id(the code's 16 digits, the site's salt), split
with BLAKE2b into the lookup digest that Submission.receipt_digest holds and the receipt key. Without the code, a
copy of the database (and of the server's secret key) gives neither: a guess costs one memory-hard derivation, and
there are 10^16 codes.

Anyone may type a code, so each derivation is bounded: at most RECEIPT_CONCURRENCY run at once on this machine,
whatever the number of workers and threads. A turn is an flock on one of that many files in a folder every worker
of the site shares (the work folder, RAM-backed; app/uploads/sandbox.py's slots are the model); a lock dies with
its process. A request that gets no turn within RECEIPT_SLOT_WAIT_SECONDS raises Busy: nothing waits longer.
Callers make sure a request derives at most once, and only after the wrong-code limit was checked.

The site's salt is made at first use and kept in key_settings ("receipt_salt"): 16 random bytes, in clear (a
salt is no secret; it makes a table of precomputed codes useless for any other site).
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import NamedTuple, cast

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from app import receipts
from app.crypto import sodium
from app.extensions import db
from app.models import KeySetting
from app.slots import take as take_turn

_SALT = "receipt_salt"
SLOT_FOLDER = ".receipt-slots"  # in UPLOAD_WORKDIR


class Busy(Exception):
    """Every turn to derive a receipt was taken for RECEIPT_SLOT_WAIT_SECONDS: try again in a moment."""


class Derived(NamedTuple):
    lookup: str  # hex of 32 bytes: what Submission.receipt_digest holds
    key: bytes  # the receipt key (32 bytes): it opens what is sealed under the receipt


def derive(code: str) -> Derived:
    """The lookup digest and the receipt key of a code (its 16 digits, as receipts.parse gives them); Busy when no
    turn comes in time."""
    if receipts.parse(code) != code:
        raise ValueError("a receipt code is 16 digits")
    config = current_app.config
    salt = site_salt()
    with turn():
        master = sodium.argon2(
            code.encode(), salt, ops=int(config["RECEIPT_OPSLIMIT"]), mem=int(config["RECEIPT_MEMLIMIT"])
        )
    lookup, key = sodium.split(master, b"lookup", b"receipt key")
    return Derived(lookup.hex(), key)


class Ahead:
    """A new receipt's derivation, which may start before it is needed: a form's Argon2id runs in a thread of its
    own while the sandbox scrubs the form's files (a child process), so that the receipt costs the visitor no wait
    of its own (AT-REST.md, "Costs to keep in view"). ``result()`` waits for it, raising what it raised (Busy);
    not started, it derives there and then. A derivation that is never asked for (the form came back with an
    error) ends by itself: it stores nothing but the site's salt, at its first use."""

    def __init__(self, code: str) -> None:
        self.code = code
        self._thread: threading.Thread | None = None
        self._outcome: Derived | BaseException | None = None

    def start(self) -> None:
        if self._thread is None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]
            self._thread = threading.Thread(target=self._derive, args=(app,), name="receipt", daemon=True)
            self._thread.start()

    def _derive(self, app: Flask) -> None:
        with app.app_context():  # (a session of its own, removed with the context)
            try:
                self._outcome = derive(self.code)
                db.session.commit()  # the salt, made now if this is its first use, is kept for the digest made
            except BaseException as error:  # handed to result(), in the request's thread
                self._outcome = error

    def result(self) -> Derived:
        if self._thread is None:
            return derive(self.code)
        self._thread.join()
        if isinstance(self._outcome, BaseException):
            raise self._outcome
        return cast("Derived", self._outcome)


# --- the site's salt ---------------------------------------------------------------------------------------------


def site_salt() -> bytes:
    """The salt of every receipt here, made at first use. Of two first uses at once, the second's insert does
    nothing (it waits for the first on PostgreSQL) and both read the one that was kept. Made in the caller's
    transaction: a salt that is rolled back was used for no stored digest."""
    text = _stored()
    if text is None:
        insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        made = base64.b64encode(sodium.random_bytes(sodium.SALT_BYTES)).decode()
        db.session.execute(insert(KeySetting).values(name=_SALT, value=made).on_conflict_do_nothing())
        text = _stored()
        if text is None:  # (cannot happen: the row was just made or found)
            raise RuntimeError("the receipt salt was not kept")
    return base64.b64decode(text)


def _stored() -> str | None:
    return db.session.scalar(select(KeySetting.value).where(KeySetting.name == _SALT))


# --- turns -------------------------------------------------------------------------------------------------------


def slot_dir() -> str:
    path = os.path.join(current_app.config["UPLOAD_WORKDIR"], SLOT_FOLDER)
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def slots() -> int:
    return int(current_app.config.get("RECEIPT_CONCURRENCY") or os.cpu_count() or 1)


def try_slot(folder: str, count: int) -> int | None:
    """Take a free turn (the open lock file, which holds it until closed), or None when all are taken."""
    taken = take_turn(folder, count)
    return taken[1] if taken else None


@contextlib.contextmanager
def turn() -> Iterator[None]:
    """Hold one of the machine's turns to derive, waiting for one at most RECEIPT_SLOT_WAIT_SECONDS (Busy)."""
    folder, count = slot_dir(), slots()
    deadline = time.monotonic() + float(current_app.config["RECEIPT_SLOT_WAIT_SECONDS"])
    pause = 0.005
    while (fd := try_slot(folder, count)) is None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Busy
        time.sleep(min(pause, left))
        pause = min(pause * 2, 0.05)
    try:
        yield
    finally:
        os.close(fd)
