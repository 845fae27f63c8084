"""Sending a stored file to a browser: one way for staff downloads, previews and readers' images alike."""

from __future__ import annotations

from flask import Response, abort, send_file

from app.uploads.stores import app_storage


def send_stored(key: str, mimetype: str, *, download_name: str | None = None) -> Response:
    """The file under ``key``: 404 if it is gone (purged meanwhile, or lost). Never sniffed (nosniff is on every
    response), and sandboxed if a browser opens it anyway; with ``download_name``, offered only as a download."""
    try:
        stored = app_storage().open(key)
    except FileNotFoundError:
        abort(404)
    response = send_file(
        stored,
        mimetype=mimetype,
        as_attachment=download_name is not None,
        download_name=download_name,
        max_age=None,  # (no-cache, and no Expires: each caller says how long, if at all, a copy may be kept)
        etag=False,
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response
