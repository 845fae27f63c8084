"""The resumable store's ledger (app/uploads/resumable.py): what each upload holds of the server's disk budget, so
that a creation does not open every upload's info.json to know what is left.

One small file at the store's root, ``ledger.json``: for each upload, its holder tag, the bytes it still expects
while it is receiving, the bytes its content takes on disk, the minute of its last byte and its expiry. It is read
and written only under an exclusive flock on the store's root folder, which is also what makes "is there room?"
and "reserve it" one step for every request of every worker. Nothing in it says more than the uploads' own
info.json files: no name, no key, no address.

The folders are the truth: ``flask uploads gc`` and the start of the app rebuild the ledger from them (a worker
killed between a folder's change and the ledger's leaves it stale), and so does any request that finds it missing
or unreadable. An empty ledger is no file at all: an empty store holds nothing.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from typing import NamedTuple

NAME = "ledger.json"
IDLE_SECONDS = 600  # an upload that has received no byte for this long reserves no more than it holds


def holder_tag(client: str, upload_id: str) -> str:
    """Which client an upload's reservation counts against, told only to that client's limiter key: the tags of
    one client's uploads differ from each other, and none says the client without the limiter's key."""
    return tagger(client)(upload_id) if client else ""


def tagger(client: str) -> Callable[[str], str]:
    """holder_tag() for one client, made once: keyed BLAKE2b, a MAC that costs a creation about 15 ms per 20,000
    uploads waiting (HMAC-SHA256 from Python, 40)."""
    mac_key = hashlib.sha256(b"prystan holder\0" + client.encode()).digest()
    return lambda upload_id: hashlib.blake2b(upload_id.encode(), key=mac_key, digest_size=8).hexdigest()


class Entry(NamedTuple):
    holder: str
    expecting: int  # its whole length while it is receiving bytes; 0 once complete
    disk: int  # what its content takes on disk
    active: float  # the minute of its last byte
    expires: float

    def held(self, now: float) -> int:
        """What it holds of the budget: its whole length while it receives bytes (not idle), else what is on disk."""
        reserving = self.expecting and now < self.active + IDLE_SECONDS
        return max(self.disk, self.expecting if reserving else 0)


class Ledger:
    def __init__(self, entries: dict[str, Entry], *, changed: bool = False):
        self.entries, self.changed = entries, changed

    def put(self, upload_id: str, entry: Entry) -> None:
        if self.entries.get(upload_id) != entry:
            self.entries[upload_id] = entry
            self.changed = True

    def drop(self, upload_id: str) -> None:
        if self.entries.pop(upload_id, None) is not None:
            self.changed = True

    def held(self, now: float, client: str = "") -> tuple[int, int]:
        """What every live upload holds of the budget, and of that what ``client``'s uploads hold."""
        held = mine = 0
        tag = tagger(client) if client else None
        for upload_id, entry in self.entries.items():
            if entry.expires <= now:
                continue
            holds = entry.held(now)
            held += holds
            if tag and holds and entry.holder == tag(upload_id):
                mine += holds
        return held, mine

    def room(self, need: int, now: float, *, budget: int, client: str = "", share: int = 0) -> str | None:
        """Whether ``need`` more bytes may be held: None, or why not ("busy": the server's disk budget would be
        passed; "share": the client's, when a client is given)."""
        held, mine = self.held(now, client)
        if held + need > budget:
            return "busy"
        if client and mine + need > share:
            return "share"
        return None


@contextlib.contextmanager
def locked(root: str, rebuild: Callable[[], dict[str, Entry]]) -> Iterator[Ledger]:
    """The ledger, read under the store's lock (held until the block ends) and written back if it changed; made
    again with ``rebuild()`` (a dict of entries from the folders) if it is missing or unreadable."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        path = os.path.join(root, NAME)
        ledger = _read(path)
        if ledger is None:
            ledger = Ledger(rebuild(), changed=True)
        yield ledger
        if ledger.changed:
            _write(path, ledger)
    finally:
        os.close(fd)


def _read(path: str) -> Ledger | None:
    try:
        with open(path) as f:
            found = json.load(f)
        return Ledger({upload_id: Entry._make(values) for upload_id, values in found.items()})
    except FileNotFoundError:
        return None
    except (ValueError, TypeError, AttributeError):
        return None  # half written by a crash: rebuilt


def _write(path: str, ledger: Ledger) -> None:
    if not ledger.entries:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
        return
    temporary = path + ".new"
    with open(temporary, "w") as f:
        f.write(json.dumps(ledger.entries))  # (each entry a list; dumps, not dump: the C encoder, ten times faster)
    os.replace(temporary, path)
