"""Keyset page cursors: the (time, id) of the last row shown, as text for a link."""

from __future__ import annotations

from datetime import datetime


def encode(stamp: datetime, ident: int) -> str:
    return f"{stamp.isoformat()}_{ident}"


def decode(cursor: str | None) -> tuple[datetime, int] | None:
    """The position a cursor names, or None for a missing or malformed one."""
    try:
        stamp, _, ident = (cursor or "").rpartition("_")
        return datetime.fromisoformat(stamp), int(ident)
    except ValueError:
        return None
