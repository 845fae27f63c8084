"""Keys, limiter identity, response headers: the privacy rules of DESIGN.md in one place."""

import hashlib
import hmac
import ipaddress
import logging
import re

from flask import current_app, request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
}


def derive_key(secret: str, purpose: str) -> bytes:
    """Return a key for one purpose, so one secret can serve several without reuse."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def keyed_hash(purpose: str, value: str) -> str:
    """A stable pseudonym for a value (an address, a username) that cannot be reversed without the key."""
    key = derive_key(current_app.config["SECRET_KEY"], purpose)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def client_network(address: str) -> str:
    """The part of an address that names one client: an IPv4 address, or an IPv6 /64 (one home or phone gets a
    whole /64 and can pick any address in it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def limiter_key() -> str:
    """Identify a client to the rate limiter by a keyed hash: the address itself is never stored."""
    return keyed_hash("ratelimit", client_network(request.remote_addr or ""))


def set_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # One URL may answer with a page or an htmx fragment: caches must keep them apart.
    response.vary.add("HX-Request")
    return response


def no_store(response):
    """Keep forms, receipts and staff pages out of every cache and the browser history."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


class HideAddress(logging.Filter):
    """Blank the client address that the development server writes at the start of each access line."""

    _ADDRESS = re.compile(r"^\S+ - - \[")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self._ADDRESS.sub("- - - [", record.msg, count=1)
        return True
