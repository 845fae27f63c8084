"""Keyset pages: the (time, id) of the last row shown, as text for a link, and the query from there on."""

from __future__ import annotations

from datetime import datetime

from app.models import parse_id


def encode(stamp: datetime, ident: int) -> str:
    return f"{stamp.isoformat()}_{ident}"


def decode(cursor: str | None) -> tuple[datetime, int] | None:
    """The position a cursor names, or None for a missing or malformed one."""
    try:
        stamp, _, ident = (cursor or "").rpartition("_")
        return datetime.fromisoformat(stamp), parse_id(ident)
    except (ValueError, OverflowError):  # OverflowError: a year past 9999
        return None


def onward(query, key, position: tuple | None, newest_first: bool = False):
    """The rows of a query after a position, in the order of a key (a tuple_ of columns)."""
    if position:
        query = query.where(key < position if newest_first else key > position)
    return query.order_by(*(column.desc() if newest_first else column for column in key.clauses))
