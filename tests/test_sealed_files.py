"""Files sealed at rest (issue 26, items 1, 3, 4): what a seized disk or bucket holds of a photo, a video and their
previews is ciphertext; a moderator's download is the scrubbed file itself, byte for byte; readers get a clear
copy of a photo only while its ad is live."""

import io
import os

import pytest
from PIL import Image
from sqlalchemy import select

from app import staff
from app.extensions import db
from app.models import Attachment, Submission
from app.submissions import create as creating
from tests import media
from tests.helpers import PASSWORD, approve, public_id, receipt_from, sign_in, work_leftovers

PIECE = 1024


def noise_png() -> bytes:
    """A photo of random pixels: no two 1 KB pieces of it, or of its re-encoding, are alike."""
    image = Image.frombytes("RGB", (160, 120), os.urandom(160 * 120 * 3))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def scrubbed(monkeypatch):
    """Every file store_files() is given to store (the scrubbed file and its previews), as it was: what must not
    rest anywhere in clear."""
    plain: dict[str, bytes] = {}
    put = creating.put

    def keeping(storage, path, name, **keys):
        with open(path, "rb") as f:
            plain[name] = f.read()
        put(storage, path, name, **keys)

    monkeypatch.setattr(creating, "put", keeping)
    return plain


def pieces(data: bytes) -> list[bytes]:
    return [data[i : i + PIECE] for i in range(0, len(data) - PIECE + 1, PIECE)]


def everything_in(*folders: str) -> bytes:
    found = []
    for folder in folders:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                with open(os.path.join(root, name), "rb") as f:
                    found.append(f.read())
    return b"\0".join(found)


def test_a_photo_and_a_video_rest_encrypted_and_come_back_byte_for_byte(app, client, scrubbed, tmp_path):
    media.need_tools()
    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    video = media.sized_video(str(tmp_path), 1.5)
    with open(video, "rb") as f:
        attachments = [(io.BytesIO(noise_png()), "noise.png"), (io.BytesIO(f.read()), "evidence.mp4")]
    data = {"telegram": "files_owner", "body": "Two files.", "attachments": attachments}
    sent = client.post("/submit/information", data=data, content_type="multipart/form-data")
    assert receipt_from(sent.get_data(as_text=True))
    assert len(scrubbed) >= 4  # the photo, its thumbnail, the video, its poster
    at_rest = everything_in(app.config["STORAGE_URL"], app.config["RESUMABLE_DIR"], app.config["UPLOAD_WORKDIR"])
    for key, plain in scrubbed.items():
        assert len(plain) > 2 * PIECE, key
        left = [i for i, piece in enumerate(pieces(plain)) if piece in at_rest]
        assert left == [], f"{key}: pieces {left[:5]} of {len(plain) // PIECE} rest in clear"
    assert work_leftovers(app) == []
    sign_in(client, app, olga)
    with app.app_context():
        stored = list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
        ids = {a.storage_key: a.id for a in stored}
        previews = {a.storage_key: a.previews for a in stored}
    for key, attachment_id in ids.items():
        download = client.get(f"/moderation/attachments/{attachment_id}")
        assert download.status_code == 200 and download.data == scrubbed[key]
        for index in range(previews[key]):
            shown = client.get(f"/moderation/attachments/{attachment_id}/preview/{index}")
            assert shown.data == scrubbed[f"{key}-thumb{index or ''}"]


def test_a_published_photo_is_clear_only_while_its_ad_is_live(app, client, scrubbed):
    from app.submissions import owner

    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD)
        olga_id = olga.id
    data = {
        "telegram": "seller",
        "title": "Chair",
        "category": "goods",
        "body": "A chair.",
        "attachments": [(io.BytesIO(noise_png()), "chair.png")],
    }
    code = receipt_from(client.post("/submit/ad", data=data, content_type="multipart/form-data").get_data(True))
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        photo = ad.attachments[0]
        approve(ad.id, ad.version, db.session.get(type(olga), olga_id), public_images=[photo.id])
        key, photo_id = photo.storage_key, photo.id
    folder = app.config["STORAGE_URL"]
    assert sorted(os.listdir(folder)) == sorted([key, f"{key}-thumb", f"{key}-public", f"{key}-public-thumb"])
    shown = client.get(f"/ads/images/{public_id(app, photo_id, Attachment)}")
    assert shown.status_code == 200 and shown.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert shown.data == scrubbed[key]
    with app.app_context():
        assert owner.close(db.session.get(Submission, ad.id))
    assert sorted(os.listdir(folder)) == sorted([key, f"{key}-thumb"])  # the clear copies went with the ad
    assert client.get(f"/ads/images/{public_id(app, photo_id, Attachment)}").status_code == 404
    assert code


def test_a_file_sent_ahead_is_kept_encrypted_and_stored_without_being_decrypted(app, client, monkeypatch):
    """Issue 26, item 2: scrubbed at /uploads, the file is encrypted under a key of its own at once (kept under the
    visitor's key); at submission that key is sealed to the item and the ciphertext moves to storage as it is."""
    from tests.test_resumable import FORM, upload

    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    decrypted = []
    real = creating.files.decrypting
    monkeypatch.setattr(creating.files, "decrypting", lambda *a: decrypted.append(a) or real(*a))
    photo = noise_png()
    upload_id = upload(client, photo, name="ahead.png", chunk=len(photo))
    kept = {}
    for root, _dirs, names in os.walk(app.config["RESUMABLE_DIR"]):
        for name in names:
            if name in ("clean", "preview-0"):
                with open(os.path.join(root, name), "rb") as f:
                    kept[name] = f.read()
    assert set(kept) == {"clean", "preview-0"}
    sent = client.post("/submit/information", data=FORM | {"uploads": upload_id})
    assert receipt_from(sent.get_data(as_text=True))
    assert decrypted == []  # stored as kept
    with app.app_context():
        attachment = db.session.scalars(select(Attachment)).one()
        key, attachment_id = attachment.storage_key, attachment.id
    folder = app.config["STORAGE_URL"]
    with open(os.path.join(folder, key), "rb") as f:
        assert f.read() == kept["clean"]
    with open(os.path.join(folder, f"{key}-thumb"), "rb") as f:
        assert f.read() == kept["preview-0"]
    sign_in(client, app, olga)
    download = client.get(f"/moderation/attachments/{attachment_id}")
    assert download.status_code == 200 and download.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(piece in kept["clean"] for piece in pieces(download.data))


def test_the_item_shows_each_files_sha256_which_its_download_matches(app, client):
    import hashlib

    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    data = {"telegram": "sender", "body": "A photo.", "attachments": [(io.BytesIO(noise_png()), "a.png")]}
    assert receipt_from(
        client.post("/submit/information", data=data, content_type="multipart/form-data").get_data(True)
    )
    sign_in(client, app, olga)
    with app.app_context():
        item_id, attachment_id = db.session.execute(select(Attachment.submission_id, Attachment.id)).one()
    digest = hashlib.sha256(client.get(f"/moderation/attachments/{attachment_id}").data).hexdigest()
    assert f'title="SHA-256 {digest}"' in client.get(f"/moderation/{item_id}").get_data(as_text=True)


def test_purge_erases_the_clear_photos_of_an_expired_ad(app, client, runner):
    from datetime import timedelta

    from app.models import User, utcnow

    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    data = {
        "telegram": "seller",
        "title": "Lamp",
        "category": "goods",
        "body": "A lamp.",
        "attachments": [(io.BytesIO(noise_png()), "lamp.png")],
    }
    assert receipt_from(client.post("/submit/ad", data=data, content_type="multipart/form-data").text)
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        approve(ad.id, ad.version, db.session.get(User, olga), public_images=[ad.attachments[0].id])
        key = ad.attachments[0].storage_key
    folder = app.config["STORAGE_URL"]
    assert f"{key}-public" in os.listdir(folder)
    with app.app_context():
        db.session.get(Submission, ad.id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    assert "Erased 1 public copies" in runner.invoke(args=["purge"]).output
    assert sorted(os.listdir(folder)) == sorted([key, f"{key}-thumb"])


def publish_with_photo(app, client, olga_id) -> tuple[int, str, str]:
    """An ad with a photo, approved with it shown: (its id, the photo's storage key, the receipt code)."""
    from app.models import User

    data = {
        "telegram": "seller",
        "title": "Table",
        "category": "goods",
        "body": "A table.",
        "attachments": [(io.BytesIO(noise_png()), "table.png")],
    }
    code = receipt_from(client.post("/submit/ad", data=data, content_type="multipart/form-data").text)
    with app.app_context():
        ad = db.session.scalars(select(Submission).order_by(Submission.id.desc())).first()
        approve(ad.id, ad.version, db.session.get(User, olga_id), public_images=[ad.attachments[0].id])
        return ad.id, ad.attachments[0].storage_key, code


def test_a_renewal_after_expiry_brings_back_the_words_and_the_photos(app, client, runner):
    from datetime import timedelta

    from app.models import utcnow

    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    ad_id, key, code = publish_with_photo(app, client, olga)
    with app.app_context():
        db.session.get(Submission, ad_id).expires_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
    runner.invoke(args=["purge"])
    folder = app.config["STORAGE_URL"]
    assert f"{key}-public" not in os.listdir(folder)
    assert client.post("/status/renew", data={"code": code}).status_code == 200
    assert {f"{key}-public", f"{key}-public-thumb"} <= set(os.listdir(folder))
    with app.app_context():
        photo = db.session.scalars(select(Attachment)).one()
    assert client.get(f"/ads/images/{public_id(app, photo.id, Attachment)}/thumb").status_code == 200


def test_an_approval_whose_photo_does_not_open_publishes_nothing_and_leaves_no_copy(app, client):
    from app.models import User

    with app.app_context():
        olga = staff.create("olga", "moderator", PASSWORD).id
    data = {
        "telegram": "seller",
        "title": "Bed",
        "category": "goods",
        "body": "A bed.",
        "attachments": [(io.BytesIO(noise_png()), "bed.png"), (io.BytesIO(noise_png()), "bed2.png")],
    }
    assert receipt_from(client.post("/submit/ad", data=data, content_type="multipart/form-data").text)
    folder = app.config["STORAGE_URL"]
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        first, second = ad.attachments
        os.unlink(os.path.join(folder, second.storage_key))  # lost: the second photo cannot be copied
        ad_id, version, shown = ad.id, ad.version, [first.id, second.id]
    sign_in(client, app, olga)
    response = client.post(f"/moderation/{ad_id}/approve", data={"version": version, "public_image": shown})
    assert response.status_code == 422
    assert not [name for name in os.listdir(folder) if "-public" in name]
    with app.app_context():
        assert db.session.get(Submission, ad_id).status == "pending"
        assert db.session.get(User, olga) is not None
