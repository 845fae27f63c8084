"""Attachments in S3: the storage contract and the whole site on an s3:// store, against a real S3-compatible
server (moto's, over HTTP on 127.0.0.1, started here), and a store that cannot be reached."""

import io
import os
import secrets
import socket
import time
from datetime import timedelta

import boto3
import pytest
import time_machine
from moto.server import ThreadedMotoServer
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Submission, User, utcnow
from app.uploads.s3 import S3Storage
from app.uploads.storage import StorageError, new_key
from app.uploads.stores import app_storage
from tests import files
from tests.helpers import approve, count, make_reader, make_user, public_id, receipt_from, sign_in, work_leftovers

BUCKET = "prystan-test"


@pytest.fixture(scope="module")
def s3_endpoint():
    """A local S3 server with one private bucket; dummy credentials, and no AWS config file read."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
        server.stop()


@pytest.fixture
def bucket(s3_endpoint):
    """A raw client on the test bucket, to see what the app really stored."""
    return boto3.client("s3", endpoint_url=s3_endpoint)


@pytest.fixture
def prefix():
    return f"t-{secrets.token_hex(4)}/uploads"  # each test in a folder of its own


@pytest.fixture
def app_config(s3_endpoint, prefix):
    return {"STORAGE_URL": f"s3://{BUCKET}/{prefix}", "S3_ENDPOINT_URL": s3_endpoint}


def objects(bucket, prefix) -> list[str]:
    listed = bucket.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/").get("Contents", [])
    return sorted(item["Key"][len(prefix) + 1 :] for item in listed)


def body_of(bucket, prefix, key) -> bytes:
    return bucket.get_object(Bucket=BUCKET, Key=f"{prefix}/{key}")["Body"].read()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- The storage contract ------------------------------------------------------------------------------------------


def test_s3_storage_puts_opens_lists_and_deletes_private_objects(s3_endpoint, bucket, prefix, tmp_path):
    store = S3Storage(f"s3://{BUCKET}/{prefix}", endpoint_url=s3_endpoint)
    source = tmp_path / "source"
    source.write_bytes(b"content")
    key = new_key()
    assert list(store.keys()) == []
    store.put_file(str(source), key)
    store.put_file(str(source), f"{key}-thumb")
    assert store.open(key).read() == b"content"
    assert sorted(store.keys()) == [key, f"{key}-thumb"]
    assert objects(bucket, prefix) == [key, f"{key}-thumb"]  # under the prefix, nowhere else
    assert abs(store.modified(key) - time.time()) < 60
    grants = bucket.get_object_acl(Bucket=BUCKET, Key=f"{prefix}/{key}")["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"] and "URI" not in grants[0]["Grantee"]
    store.delete(key)
    store.delete(key)  # a missing object is no error
    assert list(store.keys()) == [f"{key}-thumb"]
    with pytest.raises(FileNotFoundError):
        store.open(key)
    assert list(store.leftovers(older_than=time.time())) == []


def test_s3_storage_refuses_bad_keys_and_bad_urls(s3_endpoint, prefix, tmp_path):
    store = S3Storage(f"s3://{BUCKET}/{prefix}", endpoint_url=s3_endpoint)
    for bad in ("../escape", "/etc/passwd", "a" * 32 + "/x", "a" * 32 + "\n", "", "ABC"):
        for call in (store.open, store.modified, store.delete):
            with pytest.raises(StorageError):
                call(bad)
    with pytest.raises(StorageError):
        store.put_file(str(tmp_path / "missing"), new_key())
    for url in ("s3://", "s3:///prefix", "file://bucket"):
        with pytest.raises(StorageError):
            S3Storage(url, endpoint_url=s3_endpoint)


def test_the_prefix_keeps_stores_apart(s3_endpoint, bucket, prefix, tmp_path):
    source = tmp_path / "source"
    source.write_bytes(b"mine")
    mine = S3Storage(f"s3://{BUCKET}/{prefix}/", endpoint_url=s3_endpoint)
    neighbour = S3Storage(f"s3://{BUCKET}/{prefix}-other", endpoint_url=s3_endpoint)
    whole_bucket = S3Storage(f"s3://{BUCKET}", endpoint_url=s3_endpoint)
    key = new_key()
    mine.put_file(str(source), key)
    assert list(mine.keys()) == [key] and objects(bucket, prefix) == [key]
    assert list(neighbour.keys()) == [] and key not in list(whole_bucket.keys())
    for other in (neighbour, whole_bucket):
        with pytest.raises(FileNotFoundError):
            other.open(key)


def test_large_files_go_up_in_parts_and_come_back_whole(s3_endpoint, prefix, tmp_path):
    data = os.urandom(9 * 2**20)  # above boto3's 8 MB multipart threshold, and not kept in memory
    source = tmp_path / "big"
    source.write_bytes(data)
    store = S3Storage(f"s3://{BUCKET}/{prefix}", endpoint_url=s3_endpoint)
    key = new_key()
    store.put_file(str(source), key)
    with store.open(key) as stored:
        assert stored.read() == data


def test_the_app_store_builds_one_client_per_url_and_endpoint(app, s3_endpoint):
    with app.app_context():
        store = app_storage()
        assert isinstance(store, S3Storage) and app_storage() is store
        assert store.client.meta.endpoint_url == s3_endpoint
        app.config["S3_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
        assert app_storage() is not store


# --- The site on S3 ------------------------------------------------------------------------------------------------

AD = {"telegram": "s3_owner", "title": "Bike for sale", "category": "goods", "city": "Grodno", "body": "A bike."}


def submit_ad(client, **fields):
    data = AD | fields | {"attachments": [(io.BytesIO(files.jpeg()), "bike.jpg")]}
    return client.post("/submit/ad", data=data, content_type="multipart/form-data")


def test_a_submission_is_stored_in_s3_and_served_back_to_staff_and_readers(app, client, bucket, prefix):
    response = submit_ad(client)
    assert response.status_code == 200 and receipt_from(response.get_data(as_text=True))
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        image = ad.attachments[0]
        key, ad_id, image_id, version = image.storage_key, ad.id, image.id, ad.version
    assert objects(bucket, prefix) == [key, f"{key}-thumb"]
    assert not os.path.exists(os.path.join(app.instance_path, "uploads"))
    stored, stored_thumb = body_of(bucket, prefix, key), body_of(bucket, prefix, f"{key}-thumb")
    # Encrypted in the bucket: no JPEG marker, no piece of the scrubbed photo.
    assert stored[:3] != b"\xff\xd8\xff" and files.SECRET_TEXT.encode() not in stored

    staff = app.test_client()
    sign_in(staff, app, make_user(app, "mira", "moderator"))
    download = staff.get(f"/moderation/attachments/{image_id}")
    photo = download.data
    assert download.status_code == 200 and photo[:3] == b"\xff\xd8\xff" and photo[100:400] not in stored
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    thumb = staff.get(f"/moderation/attachments/{image_id}/preview").data
    assert thumb[:3] == b"\xff\xd8\xff" and thumb != stored_thumb

    assert (
        client.get(f"/ads/images/{public_id(app, image_id, Attachment)}").status_code == 404
    )  # not public until approved and chosen
    with app.app_context():
        user = db.session.scalars(select(User)).one()
        approve(ad_id, version, user, public_images=[image_id])
    # Its clear copy, made at approval, is what readers get.
    assert objects(bucket, prefix) == [key, f"{key}-public", f"{key}-public-thumb", f"{key}-thumb"]
    public = client.get(f"/ads/images/{public_id(app, image_id, Attachment)}")
    assert public.status_code == 200 and public.data == photo and public.mimetype == "image/jpeg"
    assert public.content_length == len(photo)
    assert public.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(f"/ads/images/{public_id(app, image_id, Attachment)}/thumb").data == thumb


def test_withdrawing_and_purging_delete_the_objects(app, client, runner, bucket, prefix):
    code = receipt_from(submit_ad(client).get_data(as_text=True))
    assert len(objects(bucket, prefix)) == 2
    assert client.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
    assert objects(bucket, prefix) == [] and count(app, Attachment) == 0

    submit_ad(client, body="Another bike.")
    assert len(objects(bucket, prefix)) == 2
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        ad.status, ad.decided_at = "rejected", utcnow() - timedelta(days=31)
        db.session.commit()
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and "Purged 1 submissions, 1 files" in result.output
    assert objects(bucket, prefix) == [] and count(app, Attachment) == 0


def test_uploads_gc_removes_old_orphans_in_s3_and_reports_missing_objects(app, client, runner, bucket, prefix):
    submit_ad(client)
    with app.app_context():
        key = db.session.scalar(select(Attachment.storage_key))
    orphan = new_key()
    bucket.put_object(Bucket=BUCKET, Key=f"{prefix}/{orphan}", Body=b"left by a crash")
    bucket.put_object(Bucket=BUCKET, Key=f"{prefix}/not-a-key", Body=b"someone else's")
    result = runner.invoke(args=["uploads", "gc"])  # the orphan is young: it may be a submission in progress
    assert result.exit_code == 0 and "Removed 0 orphan files" in result.output
    with time_machine.travel(time.time() + 3601, tick=False):  # an hour on (gc's default --min-age): old enough
        result = runner.invoke(args=["uploads", "gc"])
    assert result.exit_code == 0 and "Removed 1 orphan files and 0 unfinished writes." in result.output
    assert objects(bucket, prefix) == sorted([key, f"{key}-thumb", "not-a-key"])
    bucket.delete_object(Bucket=BUCKET, Key=f"{prefix}/{key}")
    assert "Missing file for attachment 1." in runner.invoke(args=["uploads", "gc"]).output


def test_an_unreachable_store_gives_the_503_page_and_saves_nothing(app, client, bucket, prefix):
    submit_ad(client)  # stored while the store was up
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "mira", "moderator"))
    app.config["S3_ENDPOINT_URL"] = f"http://127.0.0.1:{closed_port()}"
    started = time.monotonic()
    response = submit_ad(client, body="A second bike, sent while the store is down.")
    assert response.status_code == 503
    assert "Nothing you sent was saved half-way" in response.get_data(as_text=True)
    assert time.monotonic() - started < 30  # a dead store is given up on, not waited for
    assert count(app, Submission) == 1 and count(app, Attachment) == 1
    assert len(objects(bucket, prefix)) == 2
    assert staff.get("/moderation/attachments/1").status_code == 503
    assert work_leftovers(app) == []


def test_no_piece_of_a_scrubbed_photo_or_its_preview_rests_in_the_bucket(app, client, bucket, prefix, monkeypatch):
    """Issue 26, item 4, on S3: the objects hold ciphertext only; the moderator's download is the scrubbed file."""
    from app.submissions import create as creating
    from tests.test_sealed_files import noise_png, pieces

    scrubbed: dict[str, bytes] = {}
    put = creating.put

    def keeping(storage, path, name, **keys):
        with open(path, "rb") as f:
            scrubbed[name] = f.read()
        put(storage, path, name, **keys)

    monkeypatch.setattr(creating, "put", keeping)
    data = {"telegram": "s3_sender", "body": "Noise.", "attachments": [(io.BytesIO(noise_png()), "noise.png")]}
    assert receipt_from(client.post("/submit/information", data=data, content_type="multipart/form-data").text)
    stored = b"\0".join(body_of(bucket, prefix, key) for key in objects(bucket, prefix))
    assert len(scrubbed) == 2  # the photo and its thumbnail
    for key, plain in scrubbed.items():
        assert [p for p in pieces(plain) if p in stored] == [], key
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "mira", "moderator"))
    with app.app_context():
        attachment = db.session.scalars(select(Attachment)).one()
    assert staff.get(f"/moderation/attachments/{attachment.id}").data == scrubbed[attachment.storage_key]


def test_flask_crypto_migrate_encrypts_the_clear_objects_of_a_site_from_before_sealing(app, runner, bucket, prefix):
    """Issue 27 on an S3 store: the same files read back; the clear objects are gone; no 1 KB piece of them rests in
    the bucket but in the live ad's published photo."""
    from tests.legacy import PIECE, seed_in_clear
    from tests.test_migrate_sealed import snapshot

    make_reader(app, "olga")
    seeded = seed_in_clear(app)
    before = snapshot(app)
    assert set(seeded.files) <= set(objects(bucket, prefix))
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 0, result.output
    assert snapshot(app) == before
    stored = objects(bucket, prefix)
    assert not set(seeded.files) & set(stored)
    pieces = {data[i : i + PIECE] for data in seeded.files.values() for i in range(0, len(data) - PIECE + 1, PIECE)}
    holding = [key for key in stored if any(piece in body_of(bucket, prefix, key) for piece in pieces)]
    assert holding == sorted(key for key in stored if key.endswith(("-public", "-public-thumb")))
    assert len(holding) == 2  # the shown photo and its thumbnail
