"""Security events as structured log lines: one JSON object per line on the ``prystan.security`` logger.

Only the fields named in FIELDS, each a number or a short code: never an address, user agent, Telegram
handle, text, file name or typed username. Codes are reduced to a safe alphabet, and the line is JSON, so
nothing a visitor sends can forge or split a log line.
"""

from __future__ import annotations

import json
import logging
import re

logger = logging.getLogger("prystan.security")

FIELDS = frozenset({"user", "role", "endpoint", "action", "item", "reason", "limit", "method"})
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/ -]")


def _code(value) -> int | bool | str | None:
    if value is None or isinstance(value, (bool, int)):
        return value
    return _UNSAFE.sub("?", str(value))[:80]


def event(name: str, **fields) -> None:
    """Log a security event, e.g. ``event("sign_in_failed", user=3, reason="password")``."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise ValueError(f"not a security log field: {sorted(unknown)}")
    record = {"event": _code(name)} | {key: _code(value) for key, value in sorted(fields.items())}
    logger.info(json.dumps(record, ensure_ascii=True, separators=(",", ":")))
