"""Slowing password guessing down without letting a stranger lock a colleague out.

The hard limits (on the login route) count failed sign-ins per account *and* address, and per address over all
accounts: ten wrong passwords from ten addresses block those addresses, not the moderator. Across all addresses
each account also gets a growing delay: after FREE failures within the hour, the next attempt must wait FIRST
seconds, then twice as long after each further failure, up to MOST. Guessing from many addresses stays slow.
An address that signed in to the account before (within REMEMBER) is never delayed, so the real moderator at
their usual connection gets in at once. On the onion address, where every client is 127.0.0.1, no address is
known (the routes pass an empty one): a sign-in there would otherwise exempt every onion client. Counters live
in the rate limiter's storage (memory or Redis), under keyed hashes with the day's random key (app/ratekeys.py): no
username or address is stored, and nothing on disk turns a hash back into one. A known address is written under
the day's key and looked up under each of the last 30 days' keys, so it stays known for REMEMBER.
"""

from __future__ import annotations

import time

from flask import current_app

from app.extensions import limiter
from app.ratekeys import DAY, KEEP
from app.security import rate_key, recent_rate_keys

FREE = 5
FIRST = 2
MOST = 300
WINDOW = 3600
REMEMBER = KEEP * DAY  # as long as the daily keys it is looked up under are kept

PREFIX = "prystan:login:"


def _value(account: str, network: str = "") -> str:
    return f"{account.strip().lower()}\0{network}"


def _key(kind: str, account: str, network: str = "") -> str:
    return PREFIX + kind + ":" + rate_key("login-" + kind, _value(account, network))


def known(account: str, network: str) -> bool:
    """Whether this account signed in from this network within REMEMBER."""
    names = recent_rate_keys("login-known", _value(account, network))
    return any(limiter.storage.get(PREFIX + "known:" + name) for name in names)


def _on() -> bool:
    return bool(current_app.config["RATELIMIT_ENABLED"])


def wait(account: str, network: str) -> int:
    """Seconds before this account may be tried again from this network; 0: now."""
    if not _on() or (network and known(account, network)):
        return 0
    block = _key("delay", account)
    if not limiter.storage.get(block):
        return 0
    return max(1, round(limiter.storage.get_expiry(block) - time.time()))


def failed(account: str) -> None:
    if not _on():
        return
    failures = limiter.storage.incr(_key("failed", account), WINDOW)
    if failures >= FREE:
        block = _key("delay", account)
        limiter.storage.clear(block)
        limiter.storage.incr(block, min(FIRST * 2 ** (failures - FREE), MOST))


def succeeded(account: str, network: str) -> None:
    if not _on():
        return
    for kind in ("failed", "delay"):
        limiter.storage.clear(_key(kind, account))
    if network:
        limiter.storage.clear(_key("known", account, network))
        limiter.storage.incr(_key("known", account, network), REMEMBER)
