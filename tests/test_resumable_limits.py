"""What one client can make the resumable store do (issue 22, items 3 to 5): an upload is finished once, takes a
bounded number of PATCHes and a bounded number of bytes per client; a client cannot hold the server's disk budget
(its reservations are capped, an idle one is released, finished files count too); and what rests in the store
names no file, holds no hash and no exact time."""

import hashlib
import io
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from PIL import Image

from app.crypto import files as crypto_files
from app.uploads import resumable, sandbox, sealing
from tests import files
from tests.helpers import count, receipt_from
from tests.test_resumable import FORM, TUS, patch, session_key, start, store_bytes, upload

LIMITS_ON = {"RATELIMIT_ENABLED": True}


def noisy_jpeg(width: int, height: int) -> bytes:
    """A photo that does not compress: its clean copy is about as large as it is."""
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)).save(out, "JPEG", quality=90)
    return out.getvalue()


def from_address(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def infos(app) -> list[dict]:
    found = []
    for folder, _dirs, names in os.walk(app.config["RESUMABLE_DIR"]):
        found += [json.loads(Path(folder, n).read_text()) for n in names if n == "info.json"]
    return found


# --- 3. finished once, a bounded number of PATCHes ---------------------------------------------------------


def test_a_complete_upload_is_scrubbed_once_whatever_empty_patches_follow(app, client, monkeypatch):
    photo = noisy_jpeg(2000, 1500)  # 2.7 MB
    location = start(client, len(photo)).headers["Location"]
    last = len(photo) - 1000
    assert patch(client, location, 0, photo[:last]).status_code == 204
    scrubs, scrubbing, others_done = [], threading.Event(), threading.Event()
    real_run_jobs = sandbox.run_jobs

    def counted(*args, **kwargs):  # the real scrub, counted; the first one waits until the empty PATCHes are in
        scrubs.append(1)
        if len(scrubs) == 1:
            scrubbing.set()
            others_done.wait(30)
        return real_run_jobs(*args, **kwargs)

    monkeypatch.setattr(sandbox, "run_jobs", counted)
    cookie_name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(cookie_name).value

    def empty_patches() -> list[int]:
        scrubbing.wait(30)
        other = app.test_client()
        other.set_cookie(cookie_name, cookie)
        try:
            return [patch(other, location, len(photo), b"").status_code for _ in range(10)]
        finally:
            others_done.set()

    with ThreadPoolExecutor(2) as pool:
        final = pool.submit(patch, client, location, last, photo[last:])
        empties = pool.submit(empty_patches)
        assert final.result(60).status_code == 204
        codes = empties.result(60)
    assert len(scrubs) == 1
    assert set(codes) == {409}  # a complete upload takes no more PATCHes
    assert client.get(location).get_json()["state"] == "clean"
    assert patch(client, location, len(photo), b"").status_code == 409  # nor afterwards
    sent = client.post("/submit/information", data=FORM | {"uploads": location.rsplit("/", 1)[1]})
    assert receipt_from(sent.get_data(as_text=True))


def test_an_upload_takes_at_most_twice_its_chunks_and_twenty_patches(app, client):
    photo = files.jpeg()
    location = start(client, len(photo)).headers["Location"]
    allowed = 2 * 1 + 20  # the photo fits in one chunk (RESUMABLE_CHUNK_MB)
    assert [patch(client, location, 0, b"").status_code for _ in range(allowed)] == [204] * allowed
    refused = patch(client, location, 0, photo)
    assert refused.status_code == 429
    assert "sent in too many pieces" in refused.get_data(as_text=True)
    assert client.head(location, headers=TUS).headers["Upload-Offset"] == "0"


@pytest.mark.parametrize("app_config", [LIMITS_ON | {"RESUMABLE_RATELIMIT_MB": 1}])
def test_a_client_is_limited_by_the_bytes_it_sends_not_by_its_requests(app):
    first, second = from_address(app, "198.51.100.7"), from_address(app, "198.51.100.7")
    upload(first, b"x" * 600_000, name="a.jpg", chunk=100_000)  # six PATCHes: requests are not what counts
    location = start(second, 1_000_000, "b.jpg").headers["Location"]
    over = patch(second, location, 0, b"y" * 600_000)
    assert over.status_code == 429  # 1.2 MB from one address within the hour: over the 1 MB
    assert "in the last hour" in over.get_data(as_text=True)
    assert patch(second, location, 0, b"y" * 400_000).status_code == 204  # what still fits is taken
    assert patch(second, location, 400_000, b"y" * 100_000).status_code == 429
    elsewhere = from_address(app, "203.0.113.9")
    assert upload(elsewhere, b"z" * 600_000, name="c.jpg", chunk=300_000)


@pytest.mark.parametrize("app_config", [LIMITS_ON | {"RESUMABLE_RATELIMIT": "2 per hour"}])
def test_too_many_creations_are_answered_in_the_protocols_terms(app):
    client = from_address(app, "198.51.100.8")
    codes = [start(client, 100).status_code for _ in range(3)]
    refused = start(client, 100)
    assert codes == [201, 201, 429] and refused.status_code == 429
    assert refused.headers["Tus-Resumable"] == "1.0.0" and refused.mimetype == "text/plain"
    assert "<html" not in refused.get_data(as_text=True)  # not a page drawn where a file's status line goes


# --- 4. the server's budget: reservations capped per client, released when idle, finished files counted ------


@pytest.mark.parametrize(
    "app_config", [LIMITS_ON | {"UPLOAD_MAX_TOTAL_MB": 1, "UPLOAD_MAX_MEDIA_MB": 1, "UPLOAD_MAX_MEDIA_TOTAL_MB": 1}]
)
def test_a_client_reserves_at_most_the_forms_own_totals_whatever_its_sessions(app):
    share = (1 + (1 if app.config["MEDIA_TOOLS"] else 0)) * 2**20  # the form's totals: photos, and videos if taken
    sessions = [from_address(app, "198.51.100.20") for _ in range(share // 900_000 + 1)]
    codes = [start(s, 900_000, f"photo{n}.jpg").status_code for n, s in enumerate(sessions)]
    assert codes == [201] * (share // 900_000) + [429]
    refused = start(sessions[-1], 900_000)
    assert "on their way from your connection" in refused.get_data(as_text=True)
    assert start(from_address(app, "203.0.113.20"), 900_000).status_code == 201  # another client is not held up
    # The first one's bytes arrive: it reserves nothing more, and the next session of the address may start.
    first = sessions[0]
    (mine,) = resumable.Store(app.config["RESUMABLE_DIR"]).owned(session_key(first))
    assert patch(first, f"/uploads/{mine.id}", 0, b"x" * 900_000).status_code == 204
    assert start(sessions[-1], 900_000).status_code == 201


@pytest.mark.parametrize("app_config", [{"RESUMABLE_MAX_PENDING_MB": 1}])
def test_a_reservation_without_a_byte_for_ten_minutes_is_released(app, client, monkeypatch):
    clock = [1_700_000_000.0]
    monkeypatch.setattr(resumable, "now", lambda: clock[0])
    location = start(client, 700_000).headers["Location"]
    assert patch(client, location, 0, b"x" * 100_000).status_code == 204
    other = app.test_client()
    assert start(other, 700_000, "late.jpg").status_code == 503
    clock[0] += 9 * 60
    assert start(other, 700_000, "late.jpg").status_code == 503  # nine minutes idle: still held
    clock[0] += 2 * 60
    late = start(other, 700_000, "late.jpg")  # eleven: released, but for the bytes already on disk
    assert late.status_code == 201
    # The first resumes: its reservation is taken again, if the budget still has room.
    assert patch(client, location, 100_000, b"x" * 100_000).status_code == 503
    assert other.delete(late.headers["Location"], headers=TUS).status_code == 204
    assert patch(client, location, 100_000, b"x" * 100_000).status_code == 204


def test_the_store_releases_idle_reservations_by_its_own_clock(tmp_path):
    clock = [1_700_000_000.0]
    store = resumable.Store(str(tmp_path), clock=lambda: clock[0])
    key = sealing.new_key()
    upload_ = store.create(key, 5000, "a.jpg")
    store.append(key, upload_, 0, io.BytesIO(b"x" * 1000))
    assert store.held_bytes() == 5000  # received and still expected
    clock[0] += resumable.IDLE_SECONDS - 1
    assert store.held_bytes() == 5000
    clock[0] += resumable.ROUND_SECONDS + 1
    assert store.held_bytes() == 1000  # only what is on disk
    assert store.collect() == 0  # released is not removed: the person can still go on from there


@pytest.mark.parametrize("app_config", [{"RESUMABLE_MAX_PENDING_MB": 1}])
def test_finished_uploads_count_toward_the_servers_budget_until_sent(app, client):
    photo = noisy_jpeg(900, 900)  # about 730 kB, and as much once cleaned
    upload_id = upload(client, photo, chunk=300_000)
    other = app.test_client()
    busy = start(other, 400_000, "late.jpg")
    assert busy.status_code == 503 and "the site is busy" in busy.get_data(as_text=True)
    sent = client.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert receipt_from(sent.get_data(as_text=True))
    assert start(other, 400_000, "late.jpg").status_code == 201


# --- 5. what rests in the store ------------------------------------------------------------------------------

NAME = "Ivanou_Siarhei_passport_Minsk_2020"


def test_what_rests_in_the_store_names_no_file_holds_no_hash_and_no_exact_time(app, client, monkeypatch, tmp_path):
    monkeypatch.setattr(resumable, "now", lambda: 1_700_000_123.456)
    clean_id = upload(client, files.jpeg(), name=f"{NAME}.jpg")
    refused_id = upload(client, b"<html><script>", name=f"{NAME}_2.jpg", chunk=100)
    at_rest = store_bytes(app)
    assert NAME.encode() not in at_rest
    assert b"is not a photo" not in at_rest  # no message: a code, made into words when shown
    key = session_key(client)
    store = resumable.Store(app.config["RESUMABLE_DIR"])
    opened = store.open_clean(key, store.get(key, clean_id), str(tmp_path))
    # Kept encrypted under the file's own key (stored as it is with the form); its plain bytes:
    with crypto_files.decrypting(crypto_files.part_key(opened.file_key, "file"), open(opened.encrypted[0], "rb")) as f:
        digest = hashlib.sha256(f.read())
    assert opened.sha256 == digest.hexdigest()  # the attachment's hash, made when the file is taken...
    assert digest.hexdigest().encode() not in at_rest and digest.digest() not in at_rest  # ...is not kept here
    times = [v for info in infos(app) for v in numbers(info) if v > 1e9]
    assert times and all(v % resumable.ROUND_SECONDS == 0 for v in times)
    state = client.get(f"/uploads/{refused_id}").get_json()  # the owner's page still hears why, name and all
    assert state["messages"] == [
        f"{NAME}_2.jpg is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF), a PDF document, a video (MP4, MOV, WebM, "
        "3GP) or a recording (M4A, MP3, OGG, WAV)."
    ]
    refused = client.post("/submit/information", data=FORM | {"uploads": [clean_id, refused_id]})
    assert refused.status_code == 422  # a form that names a refused file is not sent without it
    sent = client.post("/submit/information", data=FORM | {"uploads": clean_id})
    assert receipt_from(sent.get_data(as_text=True))
    from app.models import Attachment

    assert count(app, Attachment) == 1


def numbers(value):
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers(v)]
    return [value] if isinstance(value, (int, float)) and not isinstance(value, bool) else []


def test_times_are_kept_to_the_minute_and_an_upload_never_expires_before_its_form(tmp_path):
    store = resumable.Store(str(tmp_path), clock=lambda: 1_700_000_123.456)
    made = store.create(sealing.new_key(), 10, "a.jpg")
    assert made.created % 60 == 0 and made.created <= 1_700_000_123.456
    assert made.expires % 60 == 0 and made.expires >= 1_700_000_123.456 + resumable.EXPIRE_SECONDS
