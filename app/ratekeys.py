"""The key that turns a client's address into a rate-limit key: random, held in memory only, new every day.

A keyed hash of an address is only as safe as its key. Derived from SECRET_KEY, which sits on the same disk, it let
whoever copied the server try every IPv4 address (hours of one core) and read back who sent a form, which form and,
from the window's time to live, when. So the key is made at random at run time and kept where the counters are: in
this process for ``memory://`` (whose counters are this process's too), in Redis for shared limits (every worker and
server reads the same key; Redis writes nothing to disk, deploy/redis/prystan.conf). It is never in a file, the
database or the configuration.

Each UTC day has its own key. The counters of a day are found no more once its key is replaced, so a new key costs
at most one window's counts. The sign-in throttle remembers an address that signed in for 30 days: it looks it up
under each of the last KEEP daily keys (``recent()``), and the keys older than that are forgotten.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from limits.storage import RedisStorage

DAY = 86400
KEEP = 30  # days before today whose keys are kept: the sign-in throttle's memory of known addresses lasts as long
REREAD = 60  # seconds a worker trusts its copy of a shared key (Redis restarted: the next reader makes a new one)


class DailyKeys:
    """Today's key and the last KEEP days', for one app; ``clock`` is injectable for tests."""

    def __init__(self, clock=time.time):
        self.clock = clock
        self.held: dict[int, tuple[bytes, float]] = {}  # day -> (key, when read)
        self.lock = threading.Lock()  # (two threads of a worker must not each make a first key of the day)

    def today(self) -> int:
        return int(self.clock() // DAY)

    def key(self, storage, prefix: str, day: int, make: bool = True) -> bytes | None:
        with self.lock:
            return self._key(storage, prefix, day, make)

    def _key(self, storage, prefix: str, day: int, make: bool) -> bytes | None:
        now = self.clock()
        held = self.held.get(day)
        shared = isinstance(storage, RedisStorage)
        if held and (not shared or now - held[1] < REREAD):
            return held[0]
        if shared:
            found = self._shared(storage.get_connection(), f"prystan:ratekey:{prefix}:{day}", held, make)
        else:
            found = secrets.token_bytes(32) if make else None
        if found is not None:
            self.held[day] = (found, now)
        for old in [d for d in self.held if d < self.today() - KEEP]:
            del self.held[old]
        return found

    def _shared(self, redis, name: str, held, make: bool) -> bytes | None:
        """The key in Redis; a key of ours (or a new one) is put there if none is, and the first writer wins."""
        if make or held:
            candidate = held[0] if held else secrets.token_bytes(32)
            redis.set(name, candidate, nx=True, ex=(KEEP + 2) * DAY)
        return redis.get(name)

    def recent(self, storage, prefix: str) -> list[bytes]:
        """Today's key, then those of the KEEP days before it that are still known."""
        today = self.today()
        keys = [self.key(storage, prefix, today)]
        keys += [self.key(storage, prefix, day, make=False) for day in range(today - 1, today - KEEP - 1, -1)]
        return [key for key in keys if key is not None]


def pseudonym(key: bytes, purpose: str, value: str) -> str:
    """A value (an address, an account and an address) as a rate-limit key: irreversible without ``key``."""
    return hmac.new(key, purpose.encode() + b"\0" + value.encode(), hashlib.sha256).hexdigest()[:32]
