"""Static files under addresses that name their content, so that a reader on a slow connection downloads htmx
and the CSS once, not on every visit.

Every ``url_for("static", filename=…)`` gives ``/static/<path>?v=<the first 12 hex digits of the SHA-256 of the
file>``: templates need no change. The static view answers a request whose ``v`` is the file's current
fingerprint with a year of immutable caching; any other (no ``v``, or one from before the file changed) gets
``no-cache`` with an ETag, so that a stale address never pins old content in a browser. nginx, where it serves
``/static/`` itself, follows the same rule.

A fingerprint is worked out once per file per process (the files change with a release, which restarts the
workers); in DEBUG again whenever the file's mtime changes.
"""

from __future__ import annotations

import hashlib
import os

from flask import Flask, current_app, request
from werkzeug.security import safe_join

FINGERPRINT_DIGITS = 12
# The two answers, the same values as nginx gives for /static/ (deploy/nginx): a year for the current fingerprint.
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


class Fingerprints:
    """The fingerprints of one app's static files, by path."""

    def __init__(self):
        self.known: dict[str, tuple[int, str]] = {}  # path: (mtime in ns, fingerprint)

    def of(self, folder: str | None, filename: str | None, watch: bool = False) -> str | None:
        """The file's fingerprint, or None if there is no such file (url_for then gives a plain address)."""
        path = safe_join(folder, filename) if folder and filename else None
        if path is None:
            return None
        known = self.known.get(path)
        if known and not watch:
            return known[1]
        try:
            mtime = os.stat(path).st_mtime_ns
            if known and known[0] == mtime:
                return known[1]
            with open(path, "rb") as f:
                fingerprint = hashlib.file_digest(f, "sha256").hexdigest()[:FINGERPRINT_DIGITS]
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None
        self.known[path] = (mtime, fingerprint)  # (two threads may both work it out: the same answer)
        return fingerprint


def init_app(app: Flask) -> None:
    fingerprints = app.extensions["assets"] = Fingerprints()

    @app.url_defaults
    def add_fingerprint(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values:
            found = fingerprints.of(current_app.static_folder, values.get("filename"), current_app.debug)
            if found:
                values["v"] = found

    def static(filename: str):
        """Send a static file: for a year when asked for by its current fingerprint, else revalidated each time."""
        response = current_app.send_static_file(filename)
        asked = request.args.get("v")
        current = asked and asked == fingerprints.of(current_app.static_folder, filename, current_app.debug)
        response.headers["Cache-Control"] = IMMUTABLE if current else REVALIDATE  # (an ETag comes with either)
        return response

    app.view_functions["static"] = static
