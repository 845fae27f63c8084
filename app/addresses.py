"""The site's own addresses: the hosts it answers to, and the absolute URLs it builds.

Absolute URLs (feeds, their self links) are never built from a header a client controls. They come from the
configured address the request came in on: PRYSTAN_PUBLIC_URL, or PRYSTAN_ONION_URL for a request to the onion
host. A Host header names one of them, or a local name (a run on 127.0.0.1, a health check on the machine);
any other host is refused before a view runs (Flask's TRUSTED_HOSTS, set in trusted_hosts()).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request, url_for

# (An IPv6 literal such as [::1] cannot be listed: Werkzeug 3.1 cuts a trusted name at its first colon.)
LOCAL_HOSTS = ("127.0.0.1", "localhost")


def configured(config) -> list[str]:
    """The configured addresses, public first, without a trailing slash."""
    return [url.rstrip("/") for url in (config.get("PUBLIC_URL"), config.get("ONION_URL")) if url]


def trusted_hosts(config) -> list[str]:
    """The hosts a request may name: the configured addresses' and the local ones."""
    hosts = [urlsplit(url).hostname for url in configured(config)]
    return [host for host in hosts if host] + list(LOCAL_HOSTS)


def check(config) -> None:
    """Refuse addresses the site could not serve: a scheme other than http(s), a path, no host."""
    for url in configured(config):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
            raise RuntimeError(
                f"PRYSTAN_PUBLIC_URL and PRYSTAN_ONION_URL are addresses like "
                f"https://prystan.example, without a path: not {url!r}"
            )


def base_url() -> str:
    """The configured address this request came in on (the public one for a local name); for a run without
    PRYSTAN_PUBLIC_URL, the local address itself, the only kind of host such a run answers to."""
    addresses = configured(current_app.config)
    host = urlsplit("//" + request.host).hostname
    for url in addresses:
        if urlsplit(url).hostname == host:
            return url
    if addresses:
        return addresses[0]
    return request.host_url.rstrip("/")


# Set to "1" by the proxy's onion server only (deploy/nginx), and cleared by its public one.
ONION_HEADER = "X-Prystan-Onion"


def on_onion() -> bool:
    """Did this request come in on the onion address? There every visitor reaches the app from 127.0.0.1, and the
    limits count per form session instead (security.limiter_key).

    Behind a proxy (PROXY_HOPS > 0) the Host header alone cannot say so: a client of the public address could name
    the onion host and so leave the per-address limits. There the proxy's onion server says it, in ONION_HEADER."""
    config = current_app.config
    onion = config.get("ONION_URL")
    if not onion or urlsplit("//" + request.host).hostname != urlsplit(onion).hostname:
        return False
    return not config.get("PROXY_HOPS") or request.headers.get(ONION_HEADER) == "1"


def external_url(endpoint: str, **values) -> str:
    """An absolute URL on the address the request came in on."""
    return base_url() + url_for(endpoint, **values)
