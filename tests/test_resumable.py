"""Resumable uploads (tus 1.0.0 at /uploads) and files that survive a form's errors: the protocol, the limits, the
encryption at rest with a key only the visitor's cookie holds, expiry, and the form that sends what was uploaded."""

import base64
import io
import os
import socket
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Submission
from app.uploads import resumable, sealing
from tests import files
from tests.helpers import count, errors_in, make_user, receipt_from, staff_opener, stored_plain
from tests.test_uploads import assert_clean

TUS = {"Tus-Resumable": "1.0.0"}
FORM = {"telegram": "anna_k1", "body": "With photos."}


def file_names(app) -> list[str]:
    """The stored files' names, as a moderator opens them (they are sealed with the item)."""
    from app import staff

    with app.app_context():
        missing = staff.find("olga") is None
    if missing:
        make_user(app)
    with app.app_context():
        opener = staff_opener()
        return [opener.attachment(a)[0] for a in db.session.scalars(select(Attachment).order_by(Attachment.id))]


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def start(client, length: int, name: str = "photo.jpg", **headers):
    """Open a form (which gives the session its upload key) and create an upload; return the response."""
    client.get("/submit/information")
    return client.post(
        "/uploads", headers=TUS | {"Upload-Length": str(length), "Upload-Metadata": f"filename {b64(name)}"} | headers
    )


def patch(client, location, offset: int, data: bytes, **headers):
    headers = TUS | {"Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"} | headers
    return client.patch(location, data=data, headers=headers)


def upload(client, data: bytes, name: str = "photo.jpg", chunk: int = 1000) -> str:
    """Send a whole file in chunks, as tus-js-client does; return its id."""
    created = start(client, len(data), name)
    assert created.status_code == 201, created.get_data(as_text=True)
    location = created.headers["Location"]
    for offset in range(0, len(data), chunk):
        answer = patch(client, location, offset, data[offset : offset + chunk])
        assert answer.status_code == 204, answer.get_data(as_text=True)
        assert int(answer.headers["Upload-Offset"]) == min(offset + chunk, len(data))
    return location.rsplit("/", 1)[1]


def store_bytes(app) -> bytes:
    """Everything the upload store holds on disk, names and contents."""
    found = b""
    for folder, _dirs, names in os.walk(app.config["RESUMABLE_DIR"]):
        for name in names:
            path = os.path.join(folder, name)
            found += path.encode() + Path(path).read_bytes()
    return found


def session_key(client) -> bytes:
    with client.session_transaction() as session:
        return sealing.decode_key(session["upload_key"])


def test_options_advertise_the_protocol_and_extensions(client):
    response = client.options("/uploads")
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {"creation", "termination", "expiration"}
    assert int(response.headers["Tus-Max-Size"]) == 200 * 2**20  # a video, the largest file the forms take


def test_an_upload_is_created_resumed_from_its_offset_scrubbed_and_sent_with_the_form(app, client):
    photo = files.jpeg()
    created = start(client, len(photo))
    assert created.status_code == 201 and created.headers["Tus-Resumable"] == "1.0.0"
    assert created.headers["Upload-Expires"].endswith("GMT")
    location = created.headers["Location"]
    assert patch(client, location, 0, photo[:500]).status_code == 204
    head = client.head(location, headers=TUS)
    assert (head.status_code, head.headers["Upload-Offset"], head.headers["Upload-Length"]) == (
        200,
        "500",
        str(len(photo)),
    )
    assert head.headers["Cache-Control"] == "no-store"
    assert patch(client, location, 100, photo[100:]).status_code == 409  # not where the server is
    done = patch(client, location, 500, photo[500:])
    assert done.status_code == 204 and done.headers["Upload-Offset"] == str(len(photo))
    state = client.get(location).get_json()
    assert state["state"] == "clean" and state["name"] == "photo.jpg" and state["messages"] == []
    upload_id = location.rsplit("/", 1)[1]
    assert not any(name == "data" for _f, _d, names in os.walk(app.config["RESUMABLE_DIR"]) for name in names)

    sent = client.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert sent.status_code == 200 and receipt_from(sent.get_data(as_text=True))
    assert file_names(app) == ["photo.jpg"]
    with app.app_context():
        attachment = db.session.scalars(select(Attachment)).one()
        assert attachment.content_type == "image/jpeg"
        key = attachment.storage_key
    assert_clean(stored_plain(app, key))  # scrubbed like any form's file: no GPS, no camera
    assert client.head(location, headers=TUS).status_code == 404  # taken with the form, gone from the store
    assert store_bytes(app) == b""


def test_the_bytes_at_rest_are_not_the_original_and_the_key_stays_with_the_visitor(app, client, tmp_path):
    photo = files.jpeg()
    created = start(client, len(photo), name="protest-minsk.jpg")
    patch(client, created.headers["Location"], 0, photo[:600])
    key = session_key(client)
    at_rest = store_bytes(app)
    assert photo[:600] not in at_rest and photo[100:200] not in at_rest
    assert b"protest-minsk" not in at_rest  # nor the file's name
    everything = at_rest + b"".join(
        Path(os.path.join(folder, name)).read_bytes()
        for folder, _d, names in os.walk(app.instance_path)
        for name in names
    )
    for form in (key, base64.urlsafe_b64encode(key), key.hex().encode()):
        assert form not in everything  # no copy of the key anywhere on the server
    # A restart, and a visitor without that cookie: nothing can be read or resumed.
    from tests.helpers import make_app

    restarted = make_app(tmp_path, RESUMABLE_DIR=app.config["RESUMABLE_DIR"]).test_client()
    restarted.get("/submit/information")
    assert restarted.head(created.headers["Location"], headers=TUS).status_code == 404
    # With the key, the bytes are the original's: encryption, not loss.
    upload = resumable.Store(app.config["RESUMABLE_DIR"]).get(key, created.headers["Location"].rsplit("/", 1)[1])
    sealed = Path(upload.data_path).read_bytes()
    assert sealing.cipher_at(key, bytes.fromhex(upload.nonce), 0).update(sealed) == photo[:600]


def test_tus_requests_never_set_a_cookie_so_uploads_side_by_side_cannot_race(app, client):
    client.get("/submit/information")
    pictures = [files.jpeg(size=(64 + n, 48)) for n in range(3)]
    locations = []
    for picture in pictures:
        response = client.post(
            "/uploads",
            headers=TUS | {"Upload-Length": str(len(picture)), "Upload-Metadata": f"filename {b64('p.jpg')}"},
        )
        assert "Set-Cookie" not in response.headers
        locations.append(response.headers["Location"])
    for offset in range(0, max(map(len, pictures)), 400):  # interleaved, as three running at once would be
        for picture, location in zip(pictures, locations, strict=True):
            if offset < len(picture):
                response = patch(client, location, offset, picture[offset : offset + 400])
                assert response.status_code == 204 and "Set-Cookie" not in response.headers
    assert [client.get(loc).get_json()["state"] for loc in locations] == ["clean"] * 3


def test_the_protocol_refuses_what_it_should(app, client):
    photo = files.jpeg()
    created = start(client, len(photo))
    location = created.headers["Location"]
    assert client.post("/uploads", headers={"Upload-Length": "10"}).status_code == 412  # no Tus-Resumable
    assert patch(client, location, 0, photo, **{"Content-Type": "application/json"}).status_code == 415
    assert patch(client, location, 0, photo + b"more").status_code == 413
    assert start(client, 0).status_code == 400
    assert client.post("/uploads", headers=TUS | {"Upload-Length": "10"}).status_code == 400  # no file name
    assert client.head("/uploads/" + "0" * 32, headers=TUS).status_code == 404
    assert client.head("/uploads/not-an-id", headers=TUS).status_code == 404
    assert client.delete(location, headers=TUS).status_code == 204
    assert client.head(location, headers=TUS).status_code == 404


def test_another_session_cannot_see_resume_or_send_an_upload(app, client):
    upload_id = upload(client, files.jpeg())
    stranger = app.test_client()
    stranger.get("/submit/information")
    location = f"/uploads/{upload_id}"
    assert stranger.head(location, headers=TUS).status_code == 404
    assert stranger.get(location).status_code == 404
    assert stranger.delete(location, headers=TUS).status_code == 404
    sent = stranger.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert sent.status_code == 422  # someone else's id is not this form's file: to this form, it is not there
    assert "A file sent ahead is no longer on the server" in " ".join(errors_in(sent.get_data(as_text=True)))
    assert "photo.jpg" not in sent.get_data(as_text=True) and count(app, Attachment) == 0
    assert client.head(location, headers=TUS).status_code == 200


@pytest.mark.parametrize("app_config", [{"UPLOAD_MAX_FILES": 2, "UPLOAD_MAX_FILE_MB": 1, "UPLOAD_MAX_TOTAL_MB": 1}])
def test_uploads_meet_the_forms_limits_when_they_are_created(app, client):
    too_big = start(client, 2**20 + 1, "big.jpg")
    assert too_big.status_code == 413 and "big.jpg is larger than 1 MB." in too_big.get_data(as_text=True)
    assert start(client, 600_000).status_code == 201
    total = start(client, 600_000, "second.jpg")
    assert total.status_code == 413 and "Together the files are larger than 1 MB" in total.get_data(as_text=True)
    assert start(client, 1000).status_code == 201
    assert "at most 2 files" in start(client, 1000).get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RESUMABLE_MAX_PENDING_MB": 1}])
def test_the_server_refuses_more_pending_bytes_than_it_allows(app, client):
    assert start(client, 700_000).status_code == 201
    other = app.test_client()
    busy = start(other, 700_000, "late.jpg")
    assert busy.status_code == 503 and "the site is busy" in busy.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "RESUMABLE_RATELIMIT": "2 per hour"}])
def test_starting_uploads_is_rate_limited(app, client):
    codes = [start(app.test_client(), 100).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_uploads_need_a_form_session_and_the_csrf_token(tmp_path):
    from tests.helpers import make_app

    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    client = app.test_client()
    no_session = client.post(
        "/uploads", headers=TUS | {"Upload-Length": "10", "Upload-Metadata": f"filename {b64('a.jpg')}"}
    )
    assert no_session.status_code in (400, 403)
    page = client.get("/submit/information").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    headers = TUS | {"Upload-Length": "10", "Upload-Metadata": f"filename {b64('a.jpg')}"}
    assert client.post("/uploads", headers=headers).status_code == 400  # no token
    created = client.post("/uploads", headers=headers | {"X-CSRFToken": token})
    assert created.status_code == 201
    assert patch(client, created.headers["Location"], 0, b"x" * 10).status_code == 400  # PATCH needs it too
    assert client.delete(created.headers["Location"], headers=TUS).status_code == 400


def test_a_refused_upload_says_why(app, client):
    upload_id = upload(client, b"<html><script>", name="page.jpg", chunk=100)
    state = client.get(f"/uploads/{upload_id}").get_json()
    assert state["state"] == "refused"
    assert state["messages"] == [
        "page.jpg is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF), a PDF document, a video (MP4, MOV, WebM, 3GP) "
        "or a recording (M4A, MP3, OGG, WAV)."
    ]
    sent = client.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert sent.status_code == 422 and count(app, Submission) == 0  # not sent without it, and it says why
    assert state["messages"] == errors_in(sent.get_data(as_text=True))


def test_a_patch_cut_in_the_middle_keeps_what_arrived(live_server):
    """A real connection, closed halfway through a PATCH's body: the bytes that arrived stay, and HEAD says so."""
    from urllib.parse import urlsplit

    app = live_server.app
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    photo = files.jpeg(size=(400, 300))
    created = start(client, len(photo))
    location = created.headers["Location"]
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name).value
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    sent = len(photo) // 2
    with socket.create_connection((host, port)) as raw:
        raw.sendall(
            (
                f"PATCH {location} HTTP/1.1\r\nHost: {host}:{port}\r\nTus-Resumable: 1.0.0\r\n"
                f"Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {len(photo)}\r\nCookie: {name}={cookie}\r\n\r\n"
            ).encode()
            + photo[:sent]
        )
    # Closed with half the body sent. The live server's thread reads what arrived in its own time (real
    # concurrency, the reason for the waits below): asked until it has it.
    for _ in range(50):
        offset = int(client.head(location, headers=TUS).headers["Upload-Offset"])
        if offset == sent:
            break
        time.sleep(0.1)
    assert offset == sent
    for _ in range(50):  # 423 while the broken request still holds the upload: a client tries again, as here
        resumed = patch(client, location, sent, photo[sent:])
        if resumed.status_code != 423:
            break
        time.sleep(0.1)
    assert resumed.status_code == 204
    assert client.get(location).get_json()["state"] == "clean"


def test_unsent_uploads_expire_with_the_form_and_gc_removes_them(app, client, runner, monkeypatch):
    unfinished = start(client, 5000).headers["Location"]
    finished = upload(client, files.jpeg())
    assert store_bytes(app)
    later = time.time() + resumable.EXPIRE_SECONDS + resumable.ROUND_SECONDS
    monkeypatch.setattr(resumable, "now", lambda: later)
    assert client.head(unfinished, headers=TUS).status_code == 404
    assert client.head(f"/uploads/{finished}", headers=TUS).status_code == 404
    result = runner.invoke(args=["uploads", "gc"])
    assert "Removed 2 expired or unsent uploads." in result.output
    assert store_bytes(app) == b""


def test_expired_uploads_are_removed_when_the_app_starts(app, client, monkeypatch, tmp_path):
    start(client, 5000)
    monkeypatch.setattr(resumable, "now", lambda: time.time() + resumable.EXPIRE_SECONDS + resumable.ROUND_SECONDS)
    from tests.helpers import make_app

    make_app(tmp_path, RESUMABLE_DIR=app.config["RESUMABLE_DIR"])
    assert store_bytes(app) == b""


# --- files survive a form's errors ------------------------------------------------------------------------


def kept_ids(html: str) -> list[str]:
    import re

    return re.findall(r'<input type="hidden" name="uploads" value="([0-9a-f]{32})">', html)


def test_the_plain_form_keeps_its_files_scrubbed_when_it_comes_back_with_an_error(app, client):
    client.get("/submit/information")
    data = {"telegram": "+375 29 123 45 67", "body": "With photos."}
    data["attachments"] = [(io.BytesIO(files.jpeg()), "first.jpg"), (io.BytesIO(files.png()), "second.png")]
    refused = client.post("/submit/information", data=data, content_type="multipart/form-data")
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert errors_in(html)  # the username's error
    assert "first.jpg" in html and "second.png" in html and "Remove first.jpg" in html
    assert "please choose them again" not in html and "already received and cleaned" in html
    ids = kept_ids(html)
    assert len(ids) == 2
    assert files.SECRET_TEXT.encode() not in store_bytes(app)
    # Corrected, without choosing the files again.
    sent = client.post("/submit/information", data=FORM | {"uploads": ids})
    assert sent.status_code == 200 and receipt_from(sent.get_data(as_text=True))
    assert sorted(file_names(app)) == ["first.jpg", "second.png"]
    with app.app_context():
        for attachment in db.session.scalars(select(Attachment)):
            assert_clean(stored_plain(app, attachment.storage_key))
    assert store_bytes(app) == b""


def test_a_kept_file_can_be_removed_and_is_deleted_at_once(app, client):
    client.get("/submit/information")
    data = {"telegram": "x", "body": "Text.", "attachments": [(io.BytesIO(files.jpeg()), "first.jpg")]}
    html = client.post("/submit/information", data=data, content_type="multipart/form-data").get_data(as_text=True)
    (upload_id,) = kept_ids(html)
    removed = client.post(
        "/submit/information", data={"telegram": "x", "body": "Text.", "uploads": upload_id, "remove_upload": upload_id}
    )
    assert removed.status_code == 200
    html = removed.get_data(as_text=True)
    # The form comes back as it was typed, without the removed file and without an error.
    assert "first.jpg" not in html and errors_in(html) == [] and "Text.</textarea>" in html
    assert store_bytes(app) == b""


def test_finished_uploads_come_back_with_a_refused_form(app, client):
    upload_id = upload(client, files.jpeg(), name="scan.jpg")
    refused = client.post("/submit/information", data={"telegram": "", "body": "Text.", "uploads": upload_id})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert kept_ids(html) == [upload_id] and "scan.jpg" in html
    sent = client.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert sent.status_code == 200 and count(app, Attachment) == 1


def test_kept_files_go_after_the_hour(app, client, monkeypatch):
    client.get("/submit/information")
    data = {"telegram": "x", "body": "Text.", "attachments": [(io.BytesIO(files.jpeg()), "first.jpg")]}
    html = client.post("/submit/information", data=data, content_type="multipart/form-data").get_data(as_text=True)
    (upload_id,) = kept_ids(html)
    later = time.time() + resumable.KEPT_SECONDS + resumable.ROUND_SECONDS  # (times are kept to the minute, rounded up)
    monkeypatch.setattr(resumable, "now", lambda: later)
    sent = client.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert sent.status_code == 422 and count(app, Submission) == 0  # not sent without it, and it says so
    assert "no longer on the server" in " ".join(errors_in(sent.get_data(as_text=True)))
    assert resumable.Store(app.config["RESUMABLE_DIR"]).collect() == 1


def test_an_answer_at_status_takes_uploads_and_keeps_its_files_on_an_error(app, client):
    from tests.helpers import make_submission, sign_in

    item_id, code = make_submission(app)
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "olga"))
    staff.post(f"/moderation/{item_id}/message", data={"message": "A photo, please?"})
    client.post("/status", data={"code": code})  # the status page with the answer form gives the key
    upload_id = upload(client, files.jpeg(), name="answer.jpg")
    empty = client.post("/status/reply", data={"code": code, "reply": "", "uploads": upload_id})
    assert empty.status_code == 422 and kept_ids(empty.get_data(as_text=True)) == [upload_id]
    sent = client.post("/status/reply", data={"code": code, "reply": "Here.", "uploads": upload_id})
    assert sent.status_code == 200
    with app.app_context():
        (attachment,) = db.session.scalars(select(Attachment)).all()
        assert attachment.message_id is not None and staff_opener().attachment(attachment)[0] == "answer.jpg"
        assert db.session.get(Submission, item_id).new_answer
