"""PDFs are rebuilt from pixels; HEIC and TIFF photos are stored as clean JPEG and PNG. Checked with exiftool -ee."""

import io
import json
import os
import re
import subprocess

import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment
from app.uploads.storage import preview_key
from tests import files
from tests.helpers import make_user, receipt_from, sign_in, staff_opener
from tests.test_uploads import EXIFTOOL, assert_clean, post_files, process, refusal, stored_files

pytestmark = pytest.mark.once  # heavy, and the same on any database: run in CI's SQLite pass only

# What the hostile PDF carries (each is checked to be there), and what else a document could hold: none of it may
# reach the rebuilt file.
CARRIED = (b"/JavaScript", b"/OpenAction", b"/AA", b"/URI", b"/EmbeddedFile", b"/Annots", b"/AcroForm", b"/PieceInfo",
           b"/Thumb")  # fmt: skip
PDF_KEYS = (*CARRIED, b"/JS", b"/Metadata", b"/Font", b"/Author", b"/Producer", b"/Creator", b"/CreationDate",
             b"/ModDate", b"/Names", b"/Widget", b"/Launch")  # fmt: skip


def everything_exiftool_sees(path: str) -> dict:
    if not EXIFTOOL:
        pytest.fail("exiftool is missing: .ci/system-deps installs it")
    done = subprocess.run([EXIFTOOL, "-j", "-a", "-ee", "-u", "-G1", path], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[0]


def rendered(data: bytes, dpi: int = 72) -> list[Image.Image]:
    document = pdfium.PdfDocument(data)
    return [page.render(scale=dpi / 72).to_pil().convert("L") for page in document]


def test_the_hostile_pdf_really_carries_what_it_should(tmp_path):
    original = tmp_path / "scan.pdf"
    original.write_bytes(files.hostile_pdf())
    seen = everything_exiftool_sees(str(original))
    assert "GPS:GPSLatitude" in seen and seen["IFD0:Make"] == "PhoneMaker" and seen["PDF:Author"] == files.SECRET_TEXT
    data = original.read_bytes()
    for key in CARRIED:
        assert key in data, key


def test_a_pdf_is_rebuilt_from_pixels_with_nothing_of_the_original(tmp_path):
    (result,) = process(tmp_path, [(files.hostile_pdf(), "scan.pdf")])
    assert result.type == "application/pdf" and result.name == "scan.pdf"
    seen = everything_exiftool_sees(result.clean_path)
    leaked = {
        k: v
        for k, v in seen.items()
        if files.SECRET_TEXT in str(v)
        or k.split(":")[0]
        in ("GPS", "IFD0", "ExifIFD", "XMP-dc", "XMP-x", "IPTC", "Photoshop", "ICC-header", "ICC_Profile")
    }
    assert leaked == {}
    assert seen["PDF:PageCount"] == 1
    with open(result.clean_path, "rb") as f:
        data = f.read()
    assert files.SECRET_TEXT.encode() not in data and b"tracker.example" not in data
    for key in PDF_KEYS:
        assert re.search(re.escape(key) + rb"\b", data) is None, key
    with pikepdf.open(result.clean_path) as rebuilt:  # the whole tree: a catalog, pages, one image on each
        assert set(rebuilt.Root.keys()) == {"/Type", "/Pages"}
        assert dict(rebuilt.docinfo) == {}
        (page,) = rebuilt.pages
        assert set(page.Resources.keys()) == {"/XObject"}
        assert [image.Subtype for image in page.Resources.XObject.values()] == ["/Image"]
    for preview in result.previews:
        assert_clean(preview)


def test_the_rebuilt_pages_look_like_the_original(tmp_path):
    original = files.text_pdf(pages=2, font_size=10, with_photo=True)
    (result,) = process(tmp_path, [(original, "statement.pdf")])
    with open(result.clean_path, "rb") as f:
        before, after = rendered(original), rendered(f.read())
    assert len(after) == 2
    for old, new in zip(before, after, strict=True):
        assert abs(old.width - new.width) <= 1 and abs(old.height - new.height) <= 1  # the page keeps its size
        difference = ImageChops.difference(old, new.resize(old.size))
        assert ImageStat.Stat(difference).mean[0] < 8
    # For a person to look at: 10-point text at the default 150 dpi, as the moderator's reader shows it.
    os.makedirs("build/screenshots", exist_ok=True)
    with open(result.clean_path, "rb") as f:
        page = pdfium.PdfDocument(f.read())[0].render(scale=150 / 72).to_pil()
    page.crop((0, 0, page.width, page.height // 3)).save("build/screenshots/pdf-rebuilt-10pt-150dpi.png")


def test_a_pdf_over_the_page_limit_is_refused_naming_the_file_and_the_limit(tmp_path):
    messages = refusal(tmp_path, [(files.text_pdf(pages=4), "dossier.pdf")], config={"PDF_MAX_PAGES": 3})
    assert messages == ["dossier.pdf has more than 3 pages. Send it in parts of at most 3 pages each."]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (files.encrypted_pdf(user_password="open-me"), "court.pdf is protected by a password. Send a copy that opens"),
        (files.empty_pdf(), "court.pdf has no pages."),
        (
            b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF",
            "court.pdf could not be read",
        ),
        (files.text_pdf()[:300], "court.pdf could not be read"),
    ],
)
def test_pdfs_that_cannot_be_opened_are_refused_clearly(tmp_path, data, expected):
    (message,) = refusal(tmp_path, [(data, "court.pdf")])
    assert message.startswith(expected)


def test_a_pdf_with_only_an_owner_password_is_rendered(tmp_path):
    data = files.encrypted_pdf()
    with pytest.raises(pikepdf.PasswordError):  # it really is encrypted: a strict reader wants the password
        pikepdf.open(io.BytesIO(data), password="wrong", attempt_recovery=False).check_pdf_syntax()
    (result,) = process(tmp_path, [(data, "decision.pdf")])
    with open(result.clean_path, "rb") as f:
        rebuilt = f.read()
    assert b"/Encrypt" not in rebuilt
    (old,), (new,) = rendered(files.text_pdf()), rendered(rebuilt)
    assert ImageStat.Stat(ImageChops.difference(old, new.resize(old.size))).mean[0] < 8


def test_moderators_see_the_first_pages_and_deleting_removes_every_derived_file(app, client, runner):
    response = post_files(client, [(files.text_pdf(pages=5), "five.pdf")])
    code = receipt_from(response.get_data(as_text=True))
    with app.app_context():
        attachment = db.session.scalars(select(Attachment)).one()
        key, attachment_id = attachment.storage_key, attachment.id
        assert attachment.previews == 3
    assert stored_files(app) == sorted([key] + [preview_key(key, n) for n in range(3)])
    staff = app.test_client()
    sign_in(staff, app, make_user(app))
    html = staff.get("/moderation/1").get_data(as_text=True)
    for page in (1, 2, 3):
        assert f'alt="Page {page} of five.pdf"' in html
    for index in range(3):
        preview = staff.get(f"/moderation/attachments/{attachment_id}/preview/{index}")
        assert preview.status_code == 200 and preview.headers["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(preview.data)) as image:
            assert image.size == (339, 480)  # an A4 page, upright
    assert staff.get(f"/moderation/attachments/{attachment_id}/preview/3").status_code == 404
    assert "Removed 0 orphan files" in runner.invoke(args=["uploads", "gc"]).output  # previews are no orphans
    assert len(stored_files(app)) == 4
    client.post("/status/withdraw", data={"code": code, "confirm": "y"})
    assert stored_files(app) == []


# --- HEIC and TIFF ------------------------------------------------------------------------------------------------


def test_an_iphone_heic_photo_is_stored_as_a_clean_upright_jpeg(tmp_path):
    original = tmp_path / "IMG_0001.HEIC"
    original.write_bytes(files.heic(orientation=6))
    assert "GPS:GPSLatitude" in everything_exiftool_sees(str(original))
    (result,) = process(tmp_path, [(original.read_bytes(), "IMG_0001.HEIC")])
    assert (result.type, result.name) == ("image/jpeg", "IMG_0001.jpg")
    assert_clean(result.clean_path)
    with Image.open(result.clean_path) as image:
        assert image.format == "JPEG" and image.size == (48, 64)  # turned upright by its orientation tag
    assert (result.width, result.height) == (48, 64)


def test_a_tiff_scan_is_stored_as_a_clean_png(tmp_path):
    original = tmp_path / "scan.tiff"
    original.write_bytes(files.tiff())
    assert files.SECRET_TEXT in json.dumps(everything_exiftool_sees(str(original)))
    (result,) = process(tmp_path, [(original.read_bytes(), "scan.tiff")])
    assert (result.type, result.name) == ("image/png", "scan.png")
    assert_clean(result.clean_path)
    with Image.open(result.clean_path) as image:
        assert image.format == "PNG" and image.size == (64, 48)


def test_a_multi_page_tiff_is_refused_clearly(tmp_path):
    (message,) = refusal(tmp_path, [(files.tiff(pages=3), "pages.tif")])
    assert message == "pages.tif holds 3 pages. Send each page as a picture of its own, or the document as a PDF."


def test_heic_and_tiff_go_through_the_form_and_are_offered_by_it(app, client):
    html = client.get("/submit/information").get_data(as_text=True)
    assert ".heic" in html and ".tif" in html and "HEIC, TIFF" in html
    response = post_files(client, [(files.heic(), "photo.heic"), (files.tiff(), "scan.tif")])
    assert receipt_from(response.get_data(as_text=True))
    make_user(app, "olga")
    with app.app_context():
        opener = staff_opener("olga")  # the names are sealed with the item: a moderator reads them
        stored = [
            (opener.attachment(a)[0], a.content_type, a.previews)
            for a in db.session.scalars(select(Attachment).order_by(Attachment.id))
        ]
    assert stored == [("photo.jpg", "image/jpeg", 1), ("scan.png", "image/png", 1)]
