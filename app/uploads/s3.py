"""The S3 backend: attachments as objects in a private bucket of any S3-compatible store.

PRYSTAN_STORAGE_URL=s3://bucket/optional/prefix. Credentials, region and (unless PRYSTAN_S3_ENDPOINT_URL is
set) the endpoint come from boto3's usual sources: AWS_* environment variables or the AWS config files.
Objects are written without an ACL, so they stay as private as the bucket; the app serves them itself.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO, cast
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import Boto3Error
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.uploads.storage import StorageError, checked, is_key

# A download up to this size stays in memory on its way to the client; a larger one goes to a temporary file.
IN_MEMORY_BYTES = 4 * 2**20


def _code(error: ClientError) -> str | None:
    return cast("str | None", error.response.get("Error", {}).get("Code"))


@contextmanager
def _failures(action: str) -> Iterator[None]:
    """Turn any failure of the store into StorageError (the 503 page). The message names no key or URL."""
    try:
        yield
    except ClientError as error:
        raise StorageError(f"S3 {action} failed: {_code(error)}") from error
    except (BotoCoreError, Boto3Error, OSError) as error:
        raise StorageError(f"S3 {action} failed: {type(error).__name__}") from error


class S3Storage:
    """Objects named prefix/key in one bucket. An upload appears whole or not at all, so there are no
    leftovers to collect (a multipart upload cut short by a crash is for the bucket's lifecycle rule)."""

    def __init__(self, url: str, *, endpoint_url: str | None = None):
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise StorageError("the storage URL must look like s3://bucket/optional/prefix")
        self.bucket = parts.netloc
        path = parts.path.strip("/")
        self.prefix = f"{path}/" if path else ""
        # Give up soon on a dead endpoint: a visitor is waiting. Stores at an address of their own (MinIO,
        # Garage, Ceph) expect path-style requests rather than bucket.host names.
        config = Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"mode": "standard", "max_attempts": 3},
            s3={"addressing_style": "path"} if endpoint_url else None,
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)

    def put_file(self, source_path: str, key: str) -> None:
        """Upload a finished file under ``key`` (in parts if it is large)."""
        name = self.prefix + checked(key)
        with _failures("upload"):
            self.client.upload_file(source_path, self.bucket, name)

    def open(self, key: str) -> BinaryIO:
        """The object's bytes in a seekable file, ready for send_file: in memory if small, else on disk.

        Not a SpooledTemporaryFile: gunicorn asks a file for its fileno() to use sendfile(), which would move
        every spooled image to disk anyway.
        """
        response = self._call("get_object", key)
        if response is None:
            raise FileNotFoundError(key)
        copy = io.BytesIO() if response["ContentLength"] <= IN_MEMORY_BYTES else tempfile.TemporaryFile()  # noqa: SIM115  (returned open: the caller closes it)
        try:
            with _failures("get_object"), response["Body"] as body:
                shutil.copyfileobj(body, copy, 2**20)
        except BaseException:
            copy.close()
            raise
        copy.seek(0)
        return copy

    def modified(self, key: str) -> float:
        head = self._call("head_object", key)
        if head is None:
            raise FileNotFoundError(key)
        return cast("float", head["LastModified"].timestamp())  # a datetime's

    def delete(self, key: str) -> None:
        # S3 answers the delete of a missing object with success, as LocalStorage does.
        self._call("delete_object", key)

    def keys(self) -> Iterator[str]:
        with _failures("list_objects_v2"):
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for item in page.get("Contents", ()):
                    name = item["Key"][len(self.prefix) :]
                    if is_key(name):
                        yield name

    def leftovers(self, older_than: float | None = None) -> Iterator[str]:
        return iter(())

    def remove_leftover(self, name: str) -> None:
        raise StorageError("an S3 store has no leftovers")

    def _call(self, method: str, key: str) -> dict[str, Any] | None:
        """One request about one object; None if there is no such object."""
        name = self.prefix + checked(key)
        with _failures(method):
            try:
                return cast("dict[str, Any]", getattr(self.client, method)(Bucket=self.bucket, Key=name))
            except ClientError as error:
                if _code(error) in ("404", "NoSuchKey", "NotFound"):
                    return None
                raise
