"""Attachments: intake checks, metadata scrubbing (checked with exiftool), storage, hostile files, serving."""

import io
import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.datastructures import FileStorage

from app.extensions import db
from app.models import Attachment, Submission
from app.uploads import intake, sandbox
from app.uploads.local import LocalStorage
from app.uploads.storage import StorageError, new_key
from tests import files
from tests.helpers import count, hx, make_user, receipt_from, sign_in, staff_opener, stored_plain, work_leftovers

EXIFTOOL = shutil.which("exiftool")
FORBIDDEN_GROUPS = ("EXIF", "IFD", "GPS", "XMP", "ICC", "Photoshop", "IPTC", "MakerNotes", "JFIF-JFXX")


def limits(**changes):
    values = {"files": 10, "file_bytes": 20 * 2**20, "total_bytes": 50 * 2**20}
    return intake.Limits(**(values | changes))


def sandbox_settings(tmp_path, max_pixels=50_000_000, **config):
    """The sandbox as the app configures it, with some settings changed."""
    from app import config as settings

    chosen = {k: getattr(settings.Defaults, k) for k in dir(settings.Defaults) if k.isupper()}
    chosen |= {"UPLOAD_WORKDIR": str(tmp_path / "work"), "UPLOAD_MAX_PIXELS": max_pixels} | config
    return sandbox.settings_from(chosen)


def upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(stream=io.BytesIO(data), filename=name)


def process(tmp_path, pairs, max_pixels=50_000_000, config=None, **limit_changes):
    """Receive and scrub files exactly as a submission does; return the prepared uploads."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    received = intake.receive([upload(d, n) for d, n in pairs], limits(**limit_changes), str(work))
    intake.scrub(received, sandbox_settings(tmp_path, max_pixels, **(config or {})), str(work))
    return received


def refusal(tmp_path, pairs, **limit_changes) -> list[str]:
    with pytest.raises(intake.FilesRefused) as caught:
        process(tmp_path, pairs, **limit_changes)
    return caught.value.messages


def metadata(path: str) -> dict:
    if not EXIFTOOL:
        pytest.fail("exiftool is missing: .ci/system-deps installs it")
    result = subprocess.run([EXIFTOOL, "-j", "-a", "-G1", "-u", path], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)[0]


def assert_clean(path: str):
    tags = metadata(path)
    leftovers = {
        k: v for k, v in tags.items() if k.split(":")[0].startswith(FORBIDDEN_GROUPS) or files.SECRET_TEXT in str(v)
    }
    assert leftovers == {}, leftovers
    names = " ".join(tags).lower()
    for word in ("gps", "comment", "author", "creator", "profile", "xmp", "description"):
        assert word not in names, word
    with open(path, "rb") as f:
        assert files.SECRET_TEXT.encode() not in f.read()


@pytest.mark.parametrize(
    ("maker", "name", "kind"),
    [
        (files.jpeg, "photo.jpg", "image/jpeg"),
        (files.png, "scan.png", "image/png"),
        (files.webp, "picture.webp", "image/webp"),
        (files.gif, "moving.gif", "image/gif"),
        (files.pdf, "letter.pdf", "application/pdf"),
    ],
)
def test_scrubbing_removes_every_trace_of_metadata(tmp_path, maker, name, kind):
    original = tmp_path / name
    original.write_bytes(maker())
    assert files.SECRET_TEXT in json.dumps(metadata(str(original)))  # the test file really carries it
    (result,) = process(tmp_path, [(maker(), name)])
    assert result.type == kind and result.name == name
    assert_clean(result.clean_path)
    for preview in result.previews:
        assert_clean(preview)
    if kind.startswith("image/"):
        with Image.open(result.clean_path) as image:
            assert image.size == (64, 48) and image.format == kind.split("/")[1].upper()


def test_orientation_is_applied_before_the_tag_is_dropped(tmp_path):
    (result,) = process(tmp_path, [(files.jpeg(orientation=6), "sideways.jpg")])
    assert (result.width, result.height) == (48, 64)
    assert "IFD0:Orientation" not in metadata(result.clean_path)


def test_animated_gif_keeps_its_frames(tmp_path):
    (result,) = process(tmp_path, [(files.gif(frames=3), "cat.gif")])
    with Image.open(result.clean_path) as image:
        assert image.n_frames == 3
    assert_clean(result.clean_path)


def test_same_file_twice_is_stored_once(tmp_path):
    data = files.jpeg()
    assert len(process(tmp_path, [(data, "a.jpg"), (data, "copy.jpg"), (files.png(), "b.png")])) == 2


@pytest.mark.parametrize(
    ("pairs", "changes", "expected"),
    [
        ([(files.jpeg(), f"p{i}.jpg") for i in range(3)], {"files": 2}, "at most 2 files"),
        ([(files.jpeg(size=(300, 300)), "big.jpg")], {"file_bytes": 1000}, "big.jpg is larger than 0 MB"),
        ([(files.jpeg(), "a.jpg"), (files.png(), "b.png")], {"total_bytes": 2500}, "Together the files are larger"),
        ([(b"", "empty.jpg")], {}, "empty.jpg is empty."),
        ([(b"<html><script>alert(1)</script></html>", "page.jpg")], {}, "page.jpg is not a photo (JPEG, PNG"),
        ([(b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "vector.jpg")], {}, "vector.jpg is not a"),
        ([(b"MZ\x90\x00 windows program", "setup.pdf")], {}, "setup.pdf is not a"),
        ([(files.png(), "really-a-png.jpg")], {}, "does not match what the file contains"),
        ([(files.jpeg(), "photo.exe")], {}, "does not match"),
        ([(files.truncated_jpeg(), "half.jpg")], {}, "half.jpg could not be read"),
        ([(files.big_png(3000, 3000), "bomb.png")], {"max_pixels": 1_000_000}, "bomb.png has too many pixels"),
        ([(files.big_png(1500, 1000), "bomb.png")], {"max_pixels": 1_000_000}, "bomb.png has too many pixels"),
    ],
)
def test_refused_files_are_named_with_the_reason(tmp_path, pairs, changes, expected):
    messages = refusal(tmp_path, pairs, **changes)
    assert any(expected in m for m in messages), messages


def test_every_refused_file_is_named_at_once(tmp_path):
    messages = refusal(tmp_path, [(b"", "one.jpg"), (files.png(), "ok.png"), (b"text", "two.gif")])
    assert len(messages) == 2 and "one.jpg" in messages[0] and "two.gif" in messages[1]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.jpg", "passwd.jpg"),
        ("..\\..\\windows\\photo.jpg", "photo.jpg"),
        ("ph\x00oto.jpg", "photo.jpg"),
        ("invoice\u202egpj.jpg", "invoicegpj.jpg"),
        ("x" * 300 + ".jpg", "x" * 96 + ".jpg"),
        (".jpg", "file.jpg"),
    ],
)
def test_hostile_names_are_made_harmless(raw, expected):
    assert intake.safe_name(raw, "image/jpeg") == expected


def test_hostile_names_pass_intake_and_are_stored_harmless(tmp_path):
    (result,) = process(tmp_path, [(files.jpeg(), "../../../evil\u202egnp.jpg")])
    assert result.name == "evilgnp.jpg"


@pytest.mark.parametrize("appended", [b"<html><script>alert(1)</script></html>", files.pdf()])
def test_anything_appended_to_an_image_is_dropped(tmp_path, appended):
    (result,) = process(tmp_path, [(files.jpeg() + appended, "polyglot.jpg")])
    with open(result.clean_path, "rb") as f:
        data = f.read()
    assert b"<html" not in data and b"%PDF" not in data and b"alert" not in data


def test_html_appended_to_a_pdf_is_dropped(tmp_path):
    (result,) = process(tmp_path, [(files.pdf() + b"<html><script>alert(1)</script>", "doc.pdf")])
    with open(result.clean_path, "rb") as f:
        assert b"<script" not in f.read()


def test_local_storage_uses_random_keys_atomic_owner_only_files(tmp_path):
    store = LocalStorage(str(tmp_path / "store"))
    source = tmp_path / "source"
    source.write_bytes(b"content")
    key = new_key()
    store.put_file(str(source), key)
    path = os.path.join(store.root, key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert store.open(key).read() == b"content"
    assert list(store.keys()) == [key] and new_key() != key
    for bad in ("../escape", "/etc/passwd", "a" * 32 + "/x", "", "ABC"):
        with pytest.raises(StorageError):
            store.open(bad)
    with pytest.raises(StorageError):
        store.put_file(str(tmp_path / "missing"), new_key())
    assert list(store.leftovers()) == []  # a failed write leaves nothing behind


# --- Through the forms -------------------------------------------------------------------------------------------

FORM = {"telegram": "anna_k", "body": "With photos."}


def post_files(client, pairs, url="/submit/information", **fields):
    data = dict(FORM) | fields
    data["attachments"] = [(io.BytesIO(d), n) for d, n in pairs]
    return client.post(url, data=data, content_type="multipart/form-data")


def stored_files(app):
    root = app.config["STORAGE_URL"]
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def test_a_submission_with_files_stores_scrubbed_copies(app, client):
    response = post_files(client, [(files.jpeg(), "photo.jpg"), (files.pdf(), "letter.pdf")])
    assert response.status_code == 200 and receipt_from(response.get_data(as_text=True))
    make_user(app)
    with app.app_context():
        attachments = db.session.scalars(select(Attachment).order_by(Attachment.id)).all()
        # The files' names are sealed with the item: a moderator opens them, no clear column holds them.
        assert [a.original_name for a in attachments] == [None, None]
        opener = staff_opener()
        assert [(opener.attachment(a)[0], a.content_type) for a in attachments] == [
            ("photo.jpg", "image/jpeg"),
            ("letter.pdf", "application/pdf"),
        ]
        keys = [a.storage_key for a in attachments]
    assert stored_files(app) == sorted([*keys, f"{keys[0]}-thumb", f"{keys[1]}-thumb"])  # the PDF's page too
    for key in keys:
        assert_clean(stored_plain(app, key))
    assert work_leftovers(app) == []  # no copy of the originals is left


def test_refused_files_keep_the_text_and_say_which_file_and_why(app, client):
    response = post_files(client, [(b"<html>", "page.jpg")])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "page.jpg is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF), a PDF document, a video" in html
    assert "With photos." in html and 'name="uploads"' not in html  # nothing of it is kept
    assert count(app, Submission) == 0 and stored_files(app) == []


def test_form_shows_the_limits_and_gives_them_to_the_widget(client):
    html = client.get("/submit/ad").get_data(as_text=True)
    assert 'enctype="multipart/form-data"' in html
    assert 'data-max-files="10"' in html and f'data-max-bytes="{20 * 2**20}"' in html
    assert 'name="attachments"' in html and "multiple" in html
    assert "Up to 10 files" in html and "20 MB each and 50 MB together" in html
    assert re.search(r'<script src="/static/js/upload\.js\?v=[0-9a-f]{12}" defer></script>', html)


def test_request_limits_match_the_upload_limits(app):
    assert app.config["MAX_CONTENT_LENGTH"] == (50 + 300 + 1) * 2**20  # photos and documents, and videos
    assert app.config["MAX_FORM_PARTS"] == 100


def test_storage_failing_mid_submission_leaves_no_row_and_no_file(app, client, monkeypatch):
    calls = []
    original = LocalStorage.put_file

    def failing(self, source, key):
        calls.append(key)
        if len(calls) == 3:
            raise OSError("disk full")
        return original(self, source, key)

    monkeypatch.setattr(LocalStorage, "put_file", failing)
    response = post_files(client, [(files.jpeg(), "a.jpg"), (files.png(), "b.png")])
    assert response.status_code == 500
    assert count(app, Submission) == 0 and count(app, Attachment) == 0
    assert stored_files(app) == []


def test_database_failing_after_files_were_written_removes_them(app, client, monkeypatch):
    monkeypatch.setattr("app.receipts.new_code", lambda: "1234567812345678")
    assert post_files(client, []).status_code == 200
    # Same receipt digest: the insert fails after the files were written.
    response = post_files(client, [(files.jpeg(), "a.jpg")], body="Another text")
    assert response.status_code == 503
    assert count(app, Submission) == 1 and stored_files(app) == []


def test_withdrawing_deletes_the_files(app, client):
    code = receipt_from(post_files(client, [(files.jpeg(), "a.jpg")]).get_data(as_text=True))
    assert len(stored_files(app)) == 2
    client.post("/status/withdraw", data={"code": code, "confirm": "y"})
    assert stored_files(app) == [] and count(app, Attachment) == 0


def test_uploads_gc_removes_orphans_and_reports_missing_files(app, client, runner):
    post_files(client, [(files.jpeg(), "a.jpg")])
    root = app.config["STORAGE_URL"]
    orphan = os.path.join(root, new_key())
    open(orphan, "wb").close()
    young = os.path.join(root, new_key())
    open(young, "wb").close()
    unfinished = os.path.join(root, ".incoming-crash")
    open(unfinished, "wb").close()
    os.utime(orphan, (1, 1))
    os.utime(unfinished, (1, 1))
    with app.app_context():
        key = db.session.scalar(select(Attachment.storage_key))
    work = app.config["UPLOAD_WORKDIR"]
    abandoned, current = os.path.join(work, "tmpkilled"), os.path.join(work, "tmpbusy")
    for folder in (abandoned, current):
        os.makedirs(folder)
        open(os.path.join(folder, "in-0"), "wb").close()
    os.utime(abandoned, (1, 1))
    result = runner.invoke(args=["uploads", "gc"])
    assert "Removed 1 orphan files and 1 unfinished writes." in result.output
    assert "Removed 1 work folders left by a stopped worker." in result.output
    assert not os.path.exists(abandoned) and os.path.exists(current)  # a request in progress keeps its folder
    assert not os.path.exists(orphan) and not os.path.exists(unfinished) and os.path.exists(young)
    os.unlink(os.path.join(root, key))
    assert "Missing file for attachment 1." in runner.invoke(args=["uploads", "gc"]).output


def test_staff_download_is_an_attachment_sandboxed_and_never_sniffed(app, client):
    post_files(client, [(files.jpeg(), "../../Фото\u202ecod.jpg")])
    staff = app.test_client()
    sign_in(staff, app, make_user(app))
    response = staff.get("/moderation/attachments/1")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;") and "\u202e" not in disposition and ".." not in disposition
    assert "filename=cod.jpg;" in disposition  # the sender's name for it, opened from its seal (made safe)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == "sandbox; default-src 'none'"
    assert response.headers["Content-Type"] == "image/jpeg"
    preview = staff.get("/moderation/attachments/1/preview")
    assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(preview.data)) as thumb:
        assert max(thumb.size) <= 480
    panel = staff.get("/moderation/1", headers=hx("panel")).get_data(as_text=True)
    assert 'src="/moderation/attachments/1/preview"' in panel
    assert staff.get("/moderation/attachments/99").status_code == 404
    assert app.test_client().get("/moderation/attachments/1").status_code == 302  # not for the public


@pytest.mark.parametrize(
    "claimed",
    [
        {"ok": True, "type": "text/html", "width": 1, "height": 1, "previews": 1},
        {"ok": True, "type": "image/jpeg", "width": "<script>", "height": 1, "previews": 1},
        {"ok": False, "error": "not-a-message"},
        ["not", "a", "dict"],
    ],
)
def test_a_taken_over_child_cannot_make_the_server_believe_anything(tmp_path, claimed):
    """A decoder exploit controls what the child answers: the server keeps its own idea of the result."""
    received = intake.receive([upload(files.jpeg(), "photo.jpg")], limits(), str(tmp_path))
    (result,) = received
    assert intake.trusted(claimed, result) == {"ok": False, "error": "limits", "limit": None}
    honest = {"ok": True, "type": "image/jpeg", "width": 64, "height": 48, "previews": 7}
    result.previews = ["p0"]
    assert intake.trusted(honest, result)["previews"] == 1  # never more previews than files were given


def test_the_media_types_are_written_once():
    """scrub's table names each video and recording type with its muxer, its ffprobe format and its extensions;
    intake takes its own from it, and writes none of those types as a key of a table of its own."""
    import ast

    from app.uploads import scrub

    assert {type_: media.extensions for type_, media in scrub.MEDIA.items()} == intake.MEDIA_TYPES
    tree = ast.parse(Path(intake.__file__).read_text())
    tables = [node for node in ast.walk(tree) if isinstance(node, ast.Dict)]
    keys = {k.value for table in tables for k in table.keys if isinstance(k, ast.Constant)}
    assert keys.isdisjoint(scrub.MEDIA)
