"""`flask purge` forgets for real: rows, stored files, and the bytes in the SQLite file."""

import io
import os
import sqlite3
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Attachment, Event, Message, Note, Report, Submission, User, utcnow
from tests import files
from tests.helpers import make_submission, make_user, staff_opener

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
    age(app, pending, created_at=now - timedelta(days=400))  # sent long ago, back in the queue today: kept
    approved_info, _ = make_submission(app, status="approved")
    age(app, approved_info, decided_at=now - timedelta(days=400), touched_at=now)  # an open case worked on: kept

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


def test_purge_deletes_done_cases_after_their_period_with_files_messages_and_notes(app, runner, tmp_path):
    """SECURITY.md: a case is kept until marked done, then CASE_RETENTION_DAYS (90); an open case stays however old
    while someone works on it (tests/test_clocks.py: not when nobody does); staff accounts are never purged."""
    from app.submissions import cases, threads
    from app.uploads.stores import storage_for

    olga_id = make_user(app, "olga")
    now = utcnow()
    old_done, _code = make_submission(app, "contact", status="approved")
    recent_done, _ = make_submission(app, status="approved")
    old_open, _ = make_submission(app, status="approved")
    with app.app_context():
        olga = db.session.get(User, olga_id)
        threads.write(old_done, olga, "A question.")
        cases.add_note(old_done, olga, "Called them.")
        # An answer's file, stored as the intake stores it.
        photo = tmp_path / "clean.jpg"
        photo.write_bytes(files.jpeg())
        storage_for(app.config["STORAGE_URL"]).put_file(str(photo), "a" * 32)
        message = db.session.scalars(select(Message)).one()
        db.session.add(
            Attachment(
                submission_id=old_done,
                message_id=message.id,
                storage_key="a" * 32,
                original_name="p.jpg",
                content_type="image/jpeg",
                size=11,
                sha256="x",
            )
        )
        for item_id, done_days in ((old_done, 91), (recent_done, 89)):
            item = db.session.get(Submission, item_id)
            item.decided_at, item.done_at = now - timedelta(days=200), now - timedelta(days=done_days)
        opened_long_ago = db.session.get(Submission, old_open)
        opened_long_ago.decided_at, opened_long_ago.touched_at = now - timedelta(days=400), now - timedelta(days=10)
        db.session.commit()
    assert stored_files(app) == {"a" * 32}
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0 and "Purged 1 submissions, 1 files" in result.output
    with app.app_context():
        assert set(db.session.scalars(select(Submission.id))) == {recent_done, old_open}
        for model in (Message, Note, Attachment):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0
        assert db.session.get(User, olga_id) is not None
    assert stored_files(app) == set()


# Each row of SECURITY.md's "What is stored, and for how long", and the tests that show it holds.
STORED = {
    "Pending submission": [
        "test_retention.py::test_purge_deletes_old_rejected_items_with_their_files",
        "test_clocks.py::test_an_item_nobody_reviews_is_deleted_after_its_days_with_its_files_thread_and_notes",
        "test_clocks.py::test_a_renewal_needs_a_reason_and_starts_the_clock_again",
        "test_clocks.py::test_the_queue_says_deleted_on_in_the_last_week_and_status_tells_the_day",
        "test_notify.py::test_an_item_entering_its_last_week_before_it_is_deleted_wakes_it_once",
    ],
    "Rejected submission": [
        "test_retention.py::test_purge_deletes_old_rejected_items_with_their_files",
        "test_ads.py::test_an_ad_sent_back_for_changes_returns_to_the_queue_once_its_owner_edits_it",
    ],
    "Withdrawn submission": [
        "test_retention.py::test_a_withdrawal_leaves_no_copy_in_any_database_file",
        "test_threads.py::test_the_thread_and_its_files_go_with_the_item",
    ],
    "Case": [
        "test_retention.py::test_purge_deletes_done_cases_after_their_period_with_files_messages_and_notes",
        "test_clocks.py::test_an_open_case_is_kept_while_worked_on_and_a_read_is_no_work",
        "test_cases.py::test_my_cases_and_open_cases_list_them_with_counts_and_age",
        "test_cases.py::test_done_with_forgetting_erases_the_username_and_its_digest_from_every_database_file",
    ],
    "Ad": [
        "test_retention.py::test_purge_deletes_ads_long_expired_or_closed_and_their_reports",
        "test_ads.py::test_an_owner_edit_takes_a_live_ad_off_the_site_until_approved_again",
    ],
    "Any item, at an admin's decision": ["test_cases.py::test_only_an_admin_deletes_an_item_and_only_after_confirming"],
    "Receipt code": [
        "test_secrets.py::test_secrets_stay_out_of_logs_and_stray_columns",
        "test_receipts_argon.py::test_a_receipt_issued_before_opens_and_its_hmac_digest_is_replaced",
    ],
    "Duplicate check": [
        "test_cases.py::test_done_with_forgetting_erases_the_username_and_its_digest_from_every_database_file",
        "test_sealed.py::test_a_duplicate_is_refused_within_the_window_and_its_digest_erased_after_it",
    ],
    "Attachments": [
        "test_sealed_files.py::test_a_photo_and_a_video_rest_encrypted_and_come_back_byte_for_byte",
        "test_sealed_files.py::test_a_file_sent_ahead_is_kept_encrypted_and_stored_without_being_decrypted",
        "test_retention.py::test_purge_deletes_old_rejected_items_with_their_files",
        "test_retention.py::test_purge_deletes_done_cases_after_their_period_with_files_messages_and_notes",
    ],
    "Messages between staff and the submitter": [
        "test_threads.py::test_staff_write_and_the_submitter_reads_and_answers_with_a_photo",
        "test_retention.py::test_purge_deletes_done_cases_after_their_period_with_files_messages_and_notes",
    ],
    "Internal notes": [
        "test_cases.py::test_notes_are_staff_only_hold_no_text_in_the_audit_and_leave_the_version",
        "test_retention.py::test_purge_deletes_done_cases_after_their_period_with_files_messages_and_notes",
    ],
    "The receipt salt": ["test_receipts_argon.py::test_the_salt_is_made_once_and_a_kept_one_is_never_replaced"],
    "Queue key epochs and their wraps": [
        "test_epochs.py::test_a_change_of_who_may_read_begins_a_new_epoch",
        "test_key_revocation.py::test_disabling_leaves_no_copy_of_the_accounts_wraps_in_the_database_files",
    ],
    "Unlocked sessions, sign-ins waiting for a second factor": [
        "test_key_revocation.py::test_sign_out_leaves_no_copy_of_the_unlocked_key_in_the_database_files",
        "test_key_revocation.py::test_a_timed_out_row_goes_at_the_next_staff_request_of_anyone",
        "test_cli.py::test_gc_and_purge_delete_timed_out_unlocked_sessions",
    ],
    "Reports of ads": [
        "test_retention.py::test_purge_deletes_ads_long_expired_or_closed_and_their_reports",
        "test_sealed.py::test_notes_and_readers_report_notes_are_for_staff_only_a_receipt_opens_neither",
    ],
    "Published ad's public copy": [
        "test_sealed_files.py::test_a_published_photo_is_clear_only_while_its_ad_is_live",
        "test_sealed.py::test_closing_undo_and_a_return_to_the_queue_erase_the_copy_and_its_words_from_the_index",
        "test_sealed.py::test_a_withdrawn_or_purged_ad_takes_its_copy_and_purge_erases_expired_copies",
    ],
    "Audit events": [
        "test_retention.py::test_purge_deletes_old_audit_events_and_records_itself",
        "test_audit.py::test_a_submitters_own_events_keep_the_day_alone",
    ],
    "Who saw a submitter's Telegram username": [
        "test_reveals.py::test_a_reveal_shows_the_username_once_uncached_and_leaves_a_sealed_trace",
        "test_reveals.py::test_a_person_sees_at_most_the_days_number_and_an_admin_sees_each_count",
    ],
    "Staff reads": [
        "test_reads.py::test_each_read_is_one_row_an_hour_and_no_event",
        "test_reads.py::test_purge_forgets_reads_as_old_as_the_events_it_forgets",
    ],
    "Staff accounts": [
        "test_retention.py::test_purge_deletes_done_cases_after_their_period_with_files_messages_and_notes"
    ],
    "Rate-limit counters": [
        "test_limits.py::test_two_instances_share_one_limit_through_redis",
        "test_ratekeys.py::test_a_seized_copy_with_the_secret_key_does_not_give_back_the_address",
    ],
    "The limiter's daily keys": [
        "test_ratekeys.py::test_the_key_is_new_every_day_and_a_new_key_costs_at_most_a_window",
        "test_deploy.py::test_redis_as_the_recipe_configures_it_writes_nothing_to_disk",
    ],
    "Sign-in throttle": ["test_ratekeys.py::test_an_address_that_signed_in_stays_known_for_30_days"],
    "Logs": ["test_secrets.py::test_secrets_stay_out_of_logs_and_stray_columns"],
}


def test_every_row_of_the_storage_table_is_checked_by_a_test():
    """A new kind of stored data in SECURITY.md needs a test here; a renamed test must be renamed here too."""
    import importlib
    from pathlib import Path

    text = (Path(__file__).parent.parent / "SECURITY.md").read_text()
    table = text.split("## What is stored, and for how long")[1].split("\n\n**")[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    rows = rows[1:]  # the header
    unmatched = [row for row in rows if not any(row.startswith(name) for name in STORED)]
    assert unmatched == [], f"rows without a test in STORED: {unmatched}"
    assert len(rows) == len(STORED)
    for name, tests in STORED.items():
        for test in tests:
            module, function = test.split("::")
            assert hasattr(importlib.import_module(f"tests.{module[:-3]}"), function), f"{name}: {test} is gone"


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
        pytest.skip("SQLite's files; PostgreSQL is checked by the row tests above and VACUUM by the tests below")


def sealed_fragments(app, submission_id) -> list[bytes]:
    """A piece of each sealed value an item's rows hold (its fields, its files' names): ciphertext, but still what
    a deletion must leave nowhere."""
    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        values = [submission.sealed, *(a.sealed for a in submission.attachments)]
    assert all(values)
    return [value[-24:] for value in values]


def test_sqlite_overwrites_deleted_text(app, client, runner):
    sqlite_only(app)
    submit_with_photo(client)
    with app.app_context():
        submission_id = db.session.scalar(select(Submission.id))
        assert db.session.execute(db.text("PRAGMA secure_delete")).scalar() == 1
    age(app, submission_id, status="rejected", decided_at=utcnow() - timedelta(days=31))
    fragments = sealed_fragments(app, submission_id)
    # The only words in clear: the public copies of published ads. One expired long ago (its row goes), one
    # yesterday (its row stays, its copy goes).
    now = utcnow()
    old_ad, _ = make_submission(
        app,
        "ad",
        status="approved",
        body=SECRET_BODY,
        published_at=now - timedelta(days=61),
        expires_at=now - timedelta(days=31),
    )
    recent_ad, _ = make_submission(
        app,
        "ad",
        status="approved",
        body="expired-yesterday-5521",
        published_at=now - timedelta(days=31),
        expires_at=now - timedelta(days=1),
    )
    data = database_bytes(app)
    assert SECRET_BODY.encode() in data and b"expired-yesterday-5521" in data
    assert all(fragment in data for fragment in fragments)
    with Reader(app, 0.5):
        assert runner.invoke(args=["purge"]).exit_code == 0
    data = database_bytes(app)
    assert SECRET_BODY.encode() not in data and b"expired-yesterday-5521" not in data
    assert not any(fragment in data for fragment in fragments)
    with app.app_context():
        assert db.session.get(Submission, old_ad) is None and db.session.get(Submission, submission_id) is None
        assert db.session.get(Submission, recent_ad).public_copy is None


def test_a_withdrawal_leaves_no_copy_in_any_database_file(app, client):
    sqlite_only(app)
    # A published ad: its words rest in clear in its public copy (the handle too, shown with consent), and sealed.
    ad_id, code = make_submission(app, "ad", status="approved", telegram="withdraw_me", body=SECRET_BODY)
    fragments = sealed_fragments(app, ad_id)
    data = database_bytes(app)
    assert b"withdraw_me" in data and SECRET_BODY.encode() in data and all(f in data for f in fragments)
    with Reader(app, 0.5):  # the checkpoint is busy while it reads, and is tried again
        started = time.monotonic()
        assert client.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
        assert time.monotonic() - started >= 0.4
    data = database_bytes(app)
    assert SECRET_BODY.encode() not in data and b"withdraw_me" not in data
    assert not any(fragment in data for fragment in fragments)


def test_a_checkpoint_that_stays_busy_reports_what_remains(app, client, caplog, monkeypatch):
    sqlite_only(app)
    from app import erasure

    monkeypatch.setattr(erasure, "TRIES", 3)
    client.post("/submit/information", data={"telegram": "still_read", "body": "Held by a reader."})
    with Reader(app, 1.5), app.app_context():
        db.session.execute(db.text("UPDATE submissions SET body = 'changed while read'"))
        db.session.commit()
        assert erasure.settle(["submissions"]) > 0
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


def vacuumed(app) -> set[str]:
    """The tables a VACUUM ran on (not autovacuum's: a command of ours), since the test made them."""
    with app.app_context():
        query = db.text("SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL")
        return set(db.session.execute(query).scalars())


# Where a submission's text, file names, reports and thread are, and so what a deletion leaves dead rows in.
A_SUBMISSIONS_TABLES = {"submissions", "attachments", "reports", "messages", "notes"}


@pytest.mark.parametrize("erasure_by", ["withdrawal", "admin's delete", "done, forget the contact"])
def test_each_erasure_vacuums_the_tables_it_changed_on_postgresql(app, client, erasure_by):
    """purge was the only one: a withdrawal, an admin's delete and forgetting a contact left the deleted rows'
    space unmarked until autovacuum came by (SQLite's side is the WAL tests above and in test_cases.py)."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("PostgreSQL's VACUUM; SQLite is checked by the file tests above")
    from app.submissions import cases, retention
    from app.uploads.stores import app_storage

    admin_id = make_user(app, "olga", "admin")
    item_id, code = make_submission(app, status="approved" if erasure_by.startswith("done") else "pending")
    assert vacuumed(app) == set()
    if erasure_by == "withdrawal":
        assert client.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
    with app.app_context():
        admin, item = db.session.get(User, admin_id), db.session.get(Submission, item_id)
        if erasure_by == "admin's delete":
            assert retention.delete_now(item_id, admin, app_storage())
        if erasure_by.startswith("done"):
            words = staff_opener().texts(item)  # (sealed again without the username, from its words)
            cases.done(item_id, item.version, admin, forget_contact=True, texts=words)
    expected = {"submissions"} if erasure_by.startswith("done") else A_SUBMISSIONS_TABLES
    assert expected <= vacuumed(app)
