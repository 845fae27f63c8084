"""htmx requests, told apart one way everywhere: a page or one of its fragments.

A route answers with a fragment when htmx asked for it (not a boosted page load) and aimed it at that fragment's
element (HX-Target); with the whole page otherwise. Responses add htmx's headers through flask-htmx's helpers.
"""

from __future__ import annotations

from app.extensions import htmx


def wanted(target: str | None = None) -> bool:
    """A fragment is wanted: an htmx request that is not a boosted page load, aimed at ``target`` if one is named."""
    return bool(htmx) and not htmx.boosted and (target is None or htmx.target == target)
