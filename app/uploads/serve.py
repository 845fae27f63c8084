"""Sending a stored file to a browser: one way for staff downloads, previews and readers' images alike."""

from __future__ import annotations

from typing import BinaryIO

from flask import Response, abort, send_file

from app.crypto import files
from app.uploads.stores import app_storage


def send_stored(
    key: str, mimetype: str, *, download_name: str | None = None, file_key: bytes | None = None
) -> Response:
    """The file under ``key``: 404 if it is gone (purged meanwhile, or lost). Never sniffed (nosniff is on every
    response), and sandboxed if a browser opens it anyway; with ``download_name``, offered only as a download.
    With ``file_key``, the stored file is encrypted: it is decrypted as it is sent, a chunk at a time."""
    try:
        stored: BinaryIO = app_storage().open(key)
    except FileNotFoundError:
        abort(404)
    if file_key is not None:
        stored = files.decrypting(file_key, stored)
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
