"""Keys, limiter identity, response headers: the privacy rules of DESIGN.md in one place."""

import hashlib
import hmac
import ipaddress
import logging
import re

from flask import current_app, request, session
from werkzeug.urls import iri_to_uri

from app.addresses import base_url, on_onion
from app.ratekeys import pseudonym

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


def legacy_receipt_key() -> bytes:
    """The key of the HMAC digests receipts had before they were derived with Argon2id (app/crypto/receipts.py):
    such a receipt still opens its submission once, and its digest is then replaced (submissions.create.find)."""
    return derive_key(current_app.config["SECRET_KEY"], "receipt")


def keyed_hash(purpose: str, value: str) -> str:
    """A stable pseudonym for a value kept in the database (a recovery code), irreversible without SECRET_KEY.
    Never for an address: a copy of the disk holds the secret key (see rate_key)."""
    key = derive_key(current_app.config["SECRET_KEY"], purpose)
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def _daily_keys():
    from app.extensions import limiter  # (extensions imports this module for limiter_key)

    return current_app.extensions["ratekeys"], limiter.storage, current_app.config.get("RATELIMIT_KEY_PREFIX", "")


def rate_key(purpose: str, value: str) -> str:
    """The rate limiter's name for a value that names a client (an address, an account at an address): a keyed
    hash under today's random key, which no file holds (app/ratekeys.py)."""
    keys, storage, prefix = _daily_keys()
    return pseudonym(keys.key(storage, prefix, keys.today()), purpose, value)


def recent_rate_keys(purpose: str, value: str) -> list[str]:
    """The names ``value`` had under each of the last ratekeys.KEEP daily keys, today's first."""
    keys, storage, prefix = _daily_keys()
    return [pseudonym(key, purpose, value) for key in keys.recent(storage, prefix)]


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
    """Identify a client to the rate limiter by a keyed hash under today's random key: the address itself is never
    stored, and a copy of the server's disk cannot turn the hash back into it.

    On the onion address every visitor comes from 127.0.0.1 (the Tor daemon), so an address would put them all in
    one bucket, where one flood would stop everyone. There the key is the form session instead (the random CSRF
    secret in the visitor's cookie, or the form session's upload key; a form cannot be sent without one). A new
    session costs a bot nothing, so on the onion the real cost of a send is the proof of work (app/proof.py); a send
    without it waits in the queue's tab "sent without the puzzle", whose cap is what holds a flood there
    (app/submissions/unproved.py)."""
    if on_onion():
        form_session = session.get("csrf_token") or session.get("upload_key") or ""
        return rate_key("ratelimit-onion", str(form_session))
    return rate_key("ratelimit", client_network(request.remote_addr or ""))


VARY = ("HX-Request", "HX-Boosted", "HX-Target")


def set_headers(response):
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    # One URL may answer with a page or an htmx fragment, and which fragment (app/fragments.py): caches must keep
    # them apart. A page's language comes from the switcher's cookie or the browser's (select_locale).
    response.vary.update(VARY)
    if response.mimetype == "text/html":
        response.vary.update(("Cookie", "Accept-Language"))
    onion_location(response)
    return response


# The areas readers and submitters see: only their pages point to the onion service.
PUBLIC_BLUEPRINTS = ("public", "submit")


def onion_location(response) -> None:
    """With ONION_LOCATION, a public page served on the public address names the same page on the onion service,
    and Tor Browser offers to go there. Staff pages do not (staff sign in where they always do), nor the onion."""
    config = current_app.config
    onion = (config.get("ONION_URL") or "").rstrip("/")
    if not (config.get("ONION_LOCATION") and onion) or response.status_code != 200 or response.mimetype != "text/html":
        return
    if request.blueprint not in PUBLIC_BLUEPRINTS or base_url() == onion:
        return
    query = request.query_string.decode("utf-8", "replace")
    response.headers["Onion-Location"] = onion + iri_to_uri(request.path + (f"?{query}" if query else ""))


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
