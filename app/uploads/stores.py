"""Which store the app uses: a local folder or an S3 bucket, named by PRYSTAN_STORAGE_URL."""

from __future__ import annotations

import functools

from flask import current_app

from app.uploads.local import LocalStorage
from app.uploads.resumable import Store
from app.uploads.storage import Storage, StorageError


def storage_for(url: str, s3_endpoint_url: str | None = None) -> Storage:
    """The backend named by PRYSTAN_STORAGE_URL: a local directory (file:// or a plain path), or an S3 bucket
    (s3://bucket/optional/prefix), at ``s3_endpoint_url`` if given."""
    if url.startswith("s3://"):
        return _s3_storage(url, s3_endpoint_url or None)
    if url.startswith("file://"):
        url = url[len("file://") :]
    if "://" in url:
        raise StorageError(f"unsupported storage URL scheme: {url.split('://')[0]}")
    return LocalStorage(url)


def app_storage() -> Storage:
    """The current app's store."""
    return storage_for(current_app.config["STORAGE_URL"], current_app.config.get("S3_ENDPOINT_URL"))


def resumable_store() -> Store:
    """Where files on their way into a form wait, encrypted (app/uploads/resumable.py)."""
    config = current_app.config
    return Store(config["RESUMABLE_DIR"], chunk=int(config["RESUMABLE_CHUNK_MB"]) * 2**20)


@functools.lru_cache(maxsize=16)
def _s3_storage(url: str, endpoint_url: str | None) -> Storage:
    """One S3 backend (and so one boto3 client, ~50 ms to build) per URL and endpoint, for the process."""
    from app.uploads.s3 import S3Storage  # boto3 is loaded only where S3 is used

    return S3Storage(url, endpoint_url=endpoint_url)
