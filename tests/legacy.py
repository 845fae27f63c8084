"""A site as it stood before sealing (issue 27): rows with their words in clear, files stored in clear, receipts
held as HMAC digests, live ads with the public copy migration 0015 gave them. Stored as that code stored them,
so that `flask crypto migrate` is tried on what real sites hold."""

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import text

from app import receipts
from app.extensions import db
from app.models import Attachment, Message, Note, PublicAd, Report, Submission, utcnow
from app.security import legacy_receipt_key
from app.uploads.storage import new_key, preview_key
from app.uploads.stores import app_storage

PIECE = 1024
OLD = time.time() - 2 * 86400  # files stored two days ago
LONG = " The rest of a long account." * 60 + " Plumlongmiddle " + " And more of it." * 60  # over 2 KB


@dataclass
class Seeded:
    ids: dict[str, int] = field(default_factory=dict)  # name -> submission id
    codes: dict[str, str] = field(default_factory=dict)  # name -> receipt code
    files: dict[str, bytes] = field(default_factory=dict)  # storage key (and preview keys) -> bytes stored
    markers: list[str] = field(default_factory=list)  # every word written, none public
    public: list[str] = field(default_factory=list)  # the words of the live ad, in its public copy by design


def _store(key: str, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(delete=False) as out:
        out.write(data)
    try:
        app_storage().put_file(out.name, key)
    finally:
        os.unlink(out.name)


def _file(seeded: Seeded, submission: Submission, name: str, *, previews: int = 1, public: bool = False) -> None:
    key = new_key()
    data = os.urandom(40 * PIECE)
    seeded.files[key] = data
    _store(key, data)
    for index in range(previews):
        seeded.files[preview_key(key, index)] = os.urandom(8 * PIECE)
        _store(preview_key(key, index), seeded.files[preview_key(key, index)])
    submission.attachments.append(
        Attachment(
            storage_key=key,
            original_name=name,
            content_type="image/jpeg",
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            width=640,
            height=480,
            previews=previews,
            public=public,
        )
    )
    seeded.markers.append(name.rsplit(".", 1)[0])


def seed_in_clear(app) -> Seeded:
    """Four items of every kind of row, as stored before sealing. Markers are words no page holds otherwise."""
    seeded = Seeded()
    now = utcnow()
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            # Long texts stored as they are (out of line, not compressed), so that a search of PostgreSQL's files
            # can find them: compressed, a clear text could be there unseen.
            for table in ("submissions", "messages", "notes"):
                db.session.execute(text(f"ALTER TABLE {table} ALTER COLUMN body SET STORAGE EXTERNAL"))

        def item(name: str, kind: str, **columns) -> Submission:
            code = receipts.new_code()
            words = {
                "telegram": f"mk_{name}_handle",
                "title": f"Saffron{name}title" if kind != "contact" else None,
                "body": f"Indigo{name}body, a longer text about the case." + (LONG if name == "tip" else ""),
                "city": f"Ochre{name}city" if kind == "ad" else None,
            }
            submission = Submission(
                kind=kind,
                locale="en",
                receipt_digest=receipts.legacy_digest(code, legacy_receipt_key()),
                **words,
                **columns,
            )
            db.session.add(submission)
            seeded.codes[name] = code
            for column, word in words.items():
                if word:  # a live ad's words are published, its handle not (its owner did not choose to show it)
                    public = columns.get("status") == "approved" and column != "telegram"
                    (seeded.public if public else seeded.markers).append(word.split(",")[0])
            return submission

        tip = item("tip", "information", status="pending")
        _file(seeded, tip, "Mauvetipphoto.jpg")
        _file(seeded, tip, "Lilactipscan.jpg", previews=3)
        tip.messages.append(Message(body="Viridianstaffquestion", from_staff=True))
        tip.messages.append(Message(body="Taupesenderanswer", from_staff=False))
        tip.notes.append(Note(body="Sepiainternalnote"))
        offer = item(
            "offer",
            "contact",
            status="rejected",
            purpose="legal",
            reject_reason="off_topic",
            reject_note="Amberrejectnote",
        )
        offer.decided_at = now
        live = item(
            "live",
            "ad",
            status="approved",
            category="housing",
            show_contact=False,
            published_at=now,
            decided_at=now,
            expires_at=now + timedelta(days=20),
        )
        _file(seeded, live, "Coralliveshown.jpg", public=True)
        _file(seeded, live, "Jadelivehidden.jpg")
        live.reports.append(Report(reason="other", note="Ivoryreportnote"))
        edited = item("edited", "ad", status="pending", category="goods")
        before = {"title": "Rustoldtitle", "body": "Rustoldbody", "city": "Rustoldcity", "category": "goods"}
        edited.before_edit = json.dumps(before)
        seeded.markers += ["Rustoldtitle", "Rustoldbody", "Rustoldcity"]
        seeded.markers += ["Viridianstaffquestion", "Taupesenderanswer", "Sepiainternalnote", "Amberrejectnote"]
        seeded.markers += ["Ivoryreportnote", "Plumlongmiddle"]
        db.session.flush()
        db.session.add(PublicAd(submission_id=live.id, title=live.title, body=live.body, city=live.city))
        db.session.commit()
        seeded.ids = {"tip": tip.id, "offer": offer.id, "live": live.id, "edited": edited.id}
        folder = app.config["STORAGE_URL"]
        if "://" not in folder:  # a local store: its files as old as a real site's
            for key in seeded.files:
                os.utime(os.path.join(folder, key), (OLD, OLD))
    return seeded
