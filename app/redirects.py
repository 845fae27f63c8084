"""The one check for every redirect target a client chooses (?next=): a path on this site, nothing else.

Browsers are lenient where a check may be strict: they drop tabs and newlines anywhere in a URL, strip leading
spaces and controls, read a backslash as a slash, and take "//host" as another site. So a target is accepted
only if it is a plain path: it starts with one "/", holds no control character, space or backslash, and has no
scheme or host. Decoded once more (a proxy or a second redirect may decode it), it must still start with one "/"
and hold no control character or backslash.
"""

from urllib.parse import unquote, urlsplit


def local_path(target: str | None, default: str | None = None) -> str | None:
    """``target`` if it is a path on this site, else ``default``."""
    if not target or not isinstance(target, str):
        return default
    if any(ord(c) <= 0x20 or c == "\\" for c in target) or not target.isprintable():
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    decoded = unquote(target)
    if decoded.startswith("//") or any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in decoded):
        return default
    return target
