"""`flask purge` forgets for real: rows, stored files, and the bytes in the SQLite file."""

import io
import os
import re
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, Event, Report, Submission, utcnow
from tests import files
from tests.helpers import make_submission

SECRET_BODY = "retention-secret-text-4471"


def stored_files(app) -> set[str]:
    root = app.config["STORAGE_URL"]
    return set(os.listdir(root)) if os.path.isdir(root) else set()


def submit_with_photo(client, body=SECRET_BODY) -> None:
    data = {"telegram": "purge_me", "body": body, "attachments": [(io.BytesIO(files.jpeg()), "p.jpg")]}
    assert client.post("/submit/information", data=data, content_type="multipart/form-data").status_code == 200


def age(app, submission_id, **fields):
    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        for name, value in fields.items():
            setattr(submission, name, value)
        db.session.commit()


def test_purge_deletes_old_rejected_items_with_their_files(app, client, runner):
    submit_with_photo(client)
    with app.app_context():
        old_id = db.session.scalar(select(Submission.id))
    assert len(stored_files(app)) == 2  # the photo and its thumbnail
    now = utcnow()
    age(app, old_id, status="rejected", decided_at=now - timedelta(days=31))
    recent, _ = make_submission(app, status="rejected")
    age(app, recent, decided_at=now - timedelta(days=29))
    pending, _ = make_submission(app)
    age(app, pending, created_at=now - timedelta(days=400))
    approved_info, _ = make_submission(app, status="approved")
    age(app, approved_info, decided_at=now - timedelta(days=400))

    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and "Purged 1 submissions, 1 files" in result.output
    with app.app_context():
        left = set(db.session.scalars(select(Submission.id)))
        assert left == {recent, pending, approved_info}
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert stored_files(app) == set()


def test_purge_deletes_ads_long_expired_or_closed_and_their_reports(app, runner):
    now = utcnow()
    live, _ = make_submission(app, "ad", status="approved")
    age(app, live, published_at=now, expires_at=now + timedelta(days=10))
    expired_long_ago, _ = make_submission(app, "ad", status="approved")
    age(app, expired_long_ago, published_at=now - timedelta(days=70), expires_at=now - timedelta(days=40))
    expired_lately, _ = make_submission(app, "ad", status="approved")
    age(app, expired_lately, published_at=now - timedelta(days=40), expires_at=now - timedelta(days=10))
    closed_long_ago, _ = make_submission(app, "ad", status="approved")
    age(
        app,
        closed_long_ago,
        published_at=now - timedelta(days=50),
        expires_at=now + timedelta(days=1),
        closed_at=now - timedelta(days=31),
    )
    with app.app_context():
        db.session.add(Report(submission_id=expired_long_ago, reason="spam"))
        db.session.commit()
    assert runner.invoke(args=["purge"]).exit_code == 0
    with app.app_context():
        assert set(db.session.scalars(select(Submission.id))) == {live, expired_lately}
        assert db.session.scalar(select(func.count()).select_from(Report)) == 0


@pytest.mark.parametrize("app_config", [{"EVENT_RETENTION_DAYS": 100}])
def test_purge_deletes_old_audit_events_and_records_itself(app, runner):
    with app.app_context():
        db.session.add_all(
            [
                Event(action="approved", created_at=utcnow() - timedelta(days=101)),
                Event(action="approved", created_at=utcnow() - timedelta(days=99)),
            ]
        )
        db.session.commit()
    assert runner.invoke(args=["purge"]).exit_code == 0
    with app.app_context():
        actions = sorted(db.session.scalars(select(Event.action)))
    assert actions == ["approved", "purged"]


def database_bytes(app) -> bytes:
    """Every file SQLite keeps for the database, read as it is: no checkpoint first."""
    with app.app_context():
        path = db.engine.url.database
    return b"".join(
        open(path + suffix, "rb").read() for suffix in ("", "-wal", "-shm") if os.path.exists(path + suffix)
    )


class Reader:
    """A second connection that holds a read snapshot for a while, as a visitor's request would."""

    def __init__(self, app, seconds: float):
        with app.app_context():
            path = db.engine.url.database
        self.connection = sqlite3.connect(path, check_same_thread=False)
        self.connection.execute("BEGIN")
        self.connection.execute("SELECT count(*) FROM submissions").fetchall()
        self.timer = threading.Timer(seconds, self.connection.rollback)

    def __enter__(self):
        self.timer.start()
        return self

    def __exit__(self, *exc):
        self.timer.join()
        self.connection.close()


def sqlite_only(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's files; PostgreSQL is checked by the row tests above and VACUUM by the next test")


def test_sqlite_overwrites_deleted_text(app, client, runner):
    sqlite_only(app)
    submit_with_photo(client)
    with app.app_context():
        submission_id = db.session.scalar(select(Submission.id))
        assert db.session.execute(db.text("PRAGMA secure_delete")).scalar() == 1
    age(app, submission_id, status="rejected", decided_at=utcnow() - timedelta(days=31))
    assert SECRET_BODY.encode() in database_bytes(app)
    with Reader(app, 0.5):
        assert runner.invoke(args=["purge"]).exit_code == 0
    data = database_bytes(app)
    assert SECRET_BODY.encode() not in data and b"purge_me" not in data


def test_a_withdrawal_leaves_no_copy_in_any_database_file(app, client):
    sqlite_only(app)
    response = client.post("/submit/information", data={"telegram": "withdraw_me", "body": SECRET_BODY})
    code = re.search(r'id="receipt-code">([\d ]+)<', response.get_data(as_text=True)).group(1)
    assert b"withdraw_me" in database_bytes(app)
    with Reader(app, 0.5):  # the checkpoint is busy while it reads, and is tried again
        started = time.monotonic()
        assert client.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
        assert time.monotonic() - started >= 0.4
    data = database_bytes(app)
    assert SECRET_BODY.encode() not in data and b"withdraw_me" not in data


def test_a_checkpoint_that_stays_busy_reports_what_remains(app, client, caplog, monkeypatch):
    sqlite_only(app)
    from app import erasure

    monkeypatch.setattr(erasure, "TRIES", 3)
    client.post("/submit/information", data={"telegram": "still_read", "body": "Held by a reader."})
    with Reader(app, 1.5), app.app_context():
        db.session.execute(db.text("UPDATE submissions SET body = 'changed while read'"))
        db.session.commit()
        assert erasure.settle() > 0
    assert "could not be checkpointed" in caplog.text


def test_purge_vacuums_what_it_deleted_on_postgresql(app, client, runner):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL's VACUUM; SQLite is checked by the file tests above")
    submit_with_photo(client)
    with app.app_context():
        submission_id = db.session.scalar(select(Submission.id))
    age(app, submission_id, status="rejected", decided_at=utcnow() - timedelta(days=31))
    assert runner.invoke(args=["purge"]).exit_code == 0
    with app.app_context():
        vacuumed = (
            db.session.execute(db.text("SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL"))
            .scalars()
            .all()
        )
    assert {"submissions", "attachments", "reports", "events"} <= set(vacuumed)
