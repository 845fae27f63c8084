"""`flask crypto migrate` (issue 27): what a site stored before sealing is sealed with public keys only, with the
site up; a run killed half-way and run again loses nothing and seals nothing twice; staff read everything as
before; old receipts open their item again once a reader has made their wrap, and show the status only until
then; nothing of the clear words or files is left in the database files or the storage folder."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app import staff
from app.crypto import files
from app.extensions import db
from app.models import Attachment, Note, ReceiptRekey, Report, Submission, utcnow
from app.submissions import migrate
from app.uploads.storage import preview_key
from app.uploads.stores import app_storage
from tests.helpers import PASSWORD, make_reader, sign_in, staff_opener
from tests.legacy import PIECE, seed_in_clear
from tests.test_sealed_markers import database_copy, found, pg_table_files, postgresql_only

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def stored(opener, attachment, index: int) -> bytes:
    name = attachment.storage_key if index == 0 else preview_key(attachment.storage_key, index - 1)
    with app_storage().open(name) as raw:
        if attachment.file_key is None:
            return raw.read()
        key = opener.file_key(attachment, "file" if index == 0 else f"preview{index - 1}")
        with files.decrypting(key, raw) as plain:
            return plain.read()


def snapshot(app) -> dict:
    """Everything a moderator reads of every item, files byte by byte."""
    with app.app_context():
        opener = staff_opener("olga")
        seen = {}
        for item in db.session.scalars(select(Submission).order_by(Submission.id)):
            seen[item.id] = {
                "texts": opener.texts(item),
                "reject note": opener.reject_note(item),
                "before edit": opener.before_edit(item),
                "messages": [(m.from_staff, opener.message(m)) for m in item.messages],
                "notes": [opener.note(n) for n in item.notes],
                "reports": [(r.reason, opener.report_note(r)) for r in item.reports],
                "files": sorted(
                    (*opener.attachment(a), a.public, [stored(opener, a, i) for i in range(1 + a.previews)])
                    for a in item.attachments
                ),
            }
        return seen


def sealed_values(app) -> dict:
    """What sealing wrote, row by row: a row sealed twice would change here."""
    with app.app_context():
        rows = {("item", s.id): (s.key_for_queue, s.sealed) for s in db.session.scalars(select(Submission))}
        rows |= {("file", a.id): (a.file_key, a.sealed) for a in db.session.scalars(select(Attachment))}
        rows |= {("note", n.id): n.sealed for n in db.session.scalars(select(Note))}
        rows |= {("report", r.id): r.sealed for r in db.session.scalars(select(Report))}
        return {key: value for key, value in rows.items() if value not in (None, (None, None))}


def clear_pieces(folder: str, seeded) -> list[str]:
    """Stored objects holding any 1 KB piece of a file stored in clear before."""
    pieces = {data[i : i + PIECE] for data in seeded.files.values() for i in range(0, len(data) - PIECE + 1, PIECE)}
    holding = []
    for name in sorted(os.listdir(folder)):
        data = open(os.path.join(folder, name), "rb").read()  # noqa: SIM115 (read whole, closed by gc)
        if any(piece in data for piece in pieces):
            holding.append(name)
    return holding


def public_copies(folder: str) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith(("-public", "-public-thumb")))


@pytest.fixture
def seeded(app):
    make_reader(app, "olga")  # a moderator with keys: the queue epoch that migrate seals to
    return seed_in_clear(app)


def test_migrate_seals_every_row_and_file_and_moderators_read_all_of_it_as_before(app, client, runner, seeded):
    before = snapshot(app)
    with app.app_context():
        assert migrate.in_clear() == {"items": 4, "messages": 2, "files": 4, "notes": 1, "report notes": 1}
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 0, result.output
    assert "Sealed 4 items, 2 messages, 4 files' names (10 stored files and previews encrypted" in result.output
    assert "Left in clear: nothing." in result.output
    assert "Old receipts not used since sealing began: 4." in result.output
    assert "Removed 0 stored files that no row names." in result.output  # it deleted the clear objects itself
    assert snapshot(app) == before
    with app.app_context():
        assert not any(migrate.in_clear().values())
        for item in db.session.scalars(select(Submission)):
            assert item.public_key and item.key_for_queue and item.key_for_receipt is None
            assert (item.telegram, item.title, item.body, item.city, item.reject_note, item.before_edit) == (None,) * 6
        keys = {a.storage_key for a in db.session.scalars(select(Attachment))}
    folder = app.config["STORAGE_URL"]
    assert not keys & set(seeded.files)  # new names; the clear objects are gone
    assert clear_pieces(folder, seeded) == public_copies(folder)  # the shown photo of the live ad, by design
    data = database_copy(app)
    assert [marker for marker in seeded.markers if found(data, marker)] == []
    again = runner.invoke(args=["crypto", "migrate"])
    assert "In clear: nothing." in again.output and "Sealed 0 items" in again.output


def test_the_live_ads_shown_photo_is_served_from_its_clear_copy_and_the_hidden_one_is_not(app, client, runner, seeded):
    with app.app_context():
        live = db.session.get(Submission, seeded.ids["live"])
        shown, hidden = sorted(live.attachments, key=lambda a: not a.public)
        images = {"shown": (shown.public_id, shown.storage_key), "hidden": (hidden.public_id, hidden.storage_key)}
    assert runner.invoke(args=["crypto", "migrate"]).exit_code == 0
    photo = client.get(f"/ads/images/{images['shown'][0]}")
    assert photo.status_code == 200 and photo.data == seeded.files[images["shown"][1]]
    thumb = client.get(f"/ads/images/{images['shown'][0]}/thumb")
    assert thumb.data == seeded.files[preview_key(images["shown"][1])]
    assert client.get(f"/ads/images/{images['hidden'][0]}").status_code == 404
    assert "Saffronlivetitle" in client.get("/ads").get_data(as_text=True)


# --- the proof: a copy of the server after the migration ---------------------------------------------------------


def test_after_the_migration_no_copy_of_the_database_holds_a_word_but_the_live_ads_public_fields(app, runner, seeded):
    """SQLite's file, -wal and -shm as they are, or pg_dump's output; the live ad's words only in its public copy."""
    result = runner.invoke(args=["crypto", "migrate", "--vacuum-full"])
    assert result.exit_code == 0, result.output
    data = database_copy(app)
    assert [marker for marker in seeded.markers if found(data, marker)] == []
    assert all(found(data, word) for word in seeded.public)  # (the copy is read: what is published is there)


def test_after_vacuum_full_postgresqls_table_files_hold_no_word_but_the_public_copy(app, runner, seeded):
    postgresql_only(app)
    assert all(found(pg_table_files(app), marker) for marker in seeded.markers[:3])  # in clear before
    result = runner.invoke(args=["crypto", "migrate", "--vacuum-full"])
    assert "VACUUM FULL done" in result.output
    data = pg_table_files(app)
    assert [marker for marker in seeded.markers if found(data, marker)] == []
    assert found(data, "Saffronlivetitle")


def cli_env(app) -> dict:
    config = app.config
    return os.environ | {
        "PRYSTAN_SECRET_KEY": config["SECRET_KEY"],
        "PRYSTAN_DATABASE_URL": config["DATABASE_URL"],
        "PRYSTAN_STORAGE_URL": config["STORAGE_URL"],
        "PRYSTAN_UPLOAD_WORKDIR": config["UPLOAD_WORKDIR"],
        "PRYSTAN_RESUMABLE_DIR": config["RESUMABLE_DIR"],
        "PRYSTAN_RATELIMIT_ENABLED": "false",
    }


def sealed_count(app, model) -> int:
    with app.app_context():
        column = model.public_key if model is Submission else model.file_key
        return len(db.session.scalars(select(model.id).where(column.is_not(None))).all())


@pytest.mark.parametrize("stage", [Submission, Attachment])
def test_a_run_killed_half_way_and_run_again_loses_nothing_and_seals_nothing_twice(app, runner, seeded, stage):
    """Killed (SIGKILL: no clean-up runs) once it has sealed its first item, or its first file."""
    before = snapshot(app)
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "crypto", "migrate", "--batch", "1", "--pause", "0.3"],
        cwd=ROOT,
        env=cli_env(app),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while sealed_count(app, stage) == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    with app.app_context():
        left = migrate.in_clear()
    assert any(left.values()), "the run had finished before it was killed: nothing was tried"
    assert sealed_count(app, stage) >= 1
    half = sealed_values(app)
    assert snapshot(app) == before  # half sealed, every word and byte still reads the same
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 0, result.output
    assert "Left in clear: nothing." in result.output
    assert snapshot(app) == before
    after = sealed_values(app)
    assert {key: after[key] for key in half} == half  # what was sealed before the kill was not sealed again
    assert clear_pieces(app.config["STORAGE_URL"], seeded) == public_copies(app.config["STORAGE_URL"])


# --- old receipts ------------------------------------------------------------------------------------------------


def test_an_old_receipt_shows_the_status_only_until_a_moderator_has_signed_in_then_everything(
    app, client, runner, seeded
):
    code = seeded.codes["tip"]
    # Used before the migration: it opens the clear item, and its key waits for the sealed one.
    page = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Saffrontiptitle" in page and "Viridianstaffquestion" in page
    assert runner.invoke(args=["crypto", "migrate"]).exit_code == 0
    with app.app_context():
        assert db.session.get(ReceiptRekey, seeded.ids["tip"]) is not None
    page = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert 'id="status-sealed"' in page and "Waiting for moderation" in page
    assert "Saffrontiptitle" not in page and "Viridianstaffquestion" not in page
    # Used for the first time after it: the same.
    offer = client.post("/status", data={"code": seeded.codes["offer"]}).get_data(as_text=True)
    assert 'id="status-sealed"' in offer and "Amberrejectnote" not in offer
    with app.app_context():
        assert migrate.old_receipts() == 2  # the live ad's and the edited ad's: never used
        olga = staff.find("olga").id
    moderator = app.test_client()
    sign_in(moderator, app, olga, PASSWORD)
    assert moderator.get("/moderation").status_code == 200  # an unlocked reader's request makes the wraps
    with app.app_context():
        assert db.session.scalars(select(ReceiptRekey)).all() == []
        assert db.session.get(Submission, seeded.ids["tip"]).key_for_receipt is not None
    page = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert 'id="status-sealed"' not in page
    assert "Saffrontiptitle" in page and "Viridianstaffquestion" in page and "Taupesenderanswer" in page
    offer = client.post("/status", data={"code": seeded.codes["offer"]}).get_data(as_text=True)
    assert "Amberrejectnote" in offer


def test_an_old_receipt_renews_its_expired_ad_once_a_moderator_has_signed_in(app, client, runner, seeded):
    with app.app_context():
        ad = db.session.get(Submission, seeded.ids["live"])
        ad.expires_at = utcnow() - timedelta(days=1)
        db.session.delete(ad.public_copy)  # as `flask purge` erases an expired ad's copy
        shown = next(a for a in ad.attachments if a.public)
        photo, key = shown.public_id, shown.storage_key
        db.session.commit()
    assert runner.invoke(args=["crypto", "migrate"]).exit_code == 0
    code = seeded.codes["live"]
    refused = client.post("/status/renew", data={"code": code})
    assert refused.status_code == 409
    assert "until then your ad stays sealed" in refused.get_data(as_text=True)
    with app.app_context():
        olga = staff.find("olga").id
    moderator = app.test_client()
    sign_in(moderator, app, olga, PASSWORD)
    moderator.get("/moderation")
    renewed = client.post("/status/renew", data={"code": code})
    assert renewed.status_code == 200 and "Your ad stays on the site until" in renewed.get_data(as_text=True)
    assert "Saffronlivetitle" in client.get("/ads").get_data(as_text=True)
    assert client.get(f"/ads/images/{photo}").data == seeded.files[key]


def test_migrate_refuses_while_no_reader_has_a_key_and_seals_nothing(app, runner):
    """Sealed then, the items would open with the site's secret key (the first epoch's wrap) until a reader exists."""
    seed_in_clear(app)
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 1 and "No moderator or admin has a key pair yet" in result.output
    with app.app_context():
        assert migrate.in_clear()["items"] == 4


# --- dying at the worst moments, and the site changing under it --------------------------------------------------

DIE = """
import os, sys
from app.submissions import migrate
from app.uploads.local import LocalStorage

if sys.argv[1] == "before the commit":  # a file's new objects are written, its row not yet switched to them
    real = migrate._updated

    def updated(statement):
        if statement.table.name == "attachments":
            os._exit(9)
        return real(statement)

    migrate._updated = updated
else:  # a file's row is switched and committed; its clear objects are not yet deleted
    LocalStorage.delete = lambda self, key: os._exit(9)

from flask.cli import main

sys.argv = ["flask", "--app", "wsgi", "crypto", "migrate"]
main()
"""


@pytest.mark.parametrize("moment", ["before the commit", "after the commit"])
def test_a_run_that_dies_around_a_files_commit_and_runs_again_leaves_no_clear_file(app, runner, seeded, moment):
    before = snapshot(app)
    died = subprocess.run(
        [sys.executable, "-c", DIE, moment], cwd=ROOT, env=cli_env(app), capture_output=True, timeout=120
    )
    assert died.returncode == 9, died.stderr.decode()[-2000:]
    assert snapshot(app) == before
    folder = app.config["STORAGE_URL"]
    left_behind = set(seeded.files) & set(os.listdir(folder))
    assert left_behind  # the clear objects are still there: nothing was lost
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 0, result.output
    assert "Left in clear: nothing." in result.output
    assert snapshot(app) == before
    assert not set(seeded.files) & set(os.listdir(folder))  # deleted, or (no row's any more) collected
    assert clear_pieces(folder, seeded) == public_copies(folder)


def test_a_file_the_store_fails_to_give_stays_in_clear_and_is_sealed_by_the_next_run(app, runner, seeded, monkeypatch):
    """A store that fails (throttled, a 500) is no "no such file": the file keeps its row and is tried again."""
    from app.uploads.local import LocalStorage
    from app.uploads.storage import StorageError

    before = snapshot(app)
    failing = sorted(seeded.files)[0]
    real_open = LocalStorage.open

    def open_(self, key):
        if key == failing:
            raise StorageError("SlowDown")
        return real_open(self, key)

    monkeypatch.setattr(LocalStorage, "open", open_)
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 1
    assert (
        "The store failed while some files were read" in result.output
        and "Left in clear: 1 files. Run this again." in result.output
    )
    assert failing in os.listdir(app.config["STORAGE_URL"])
    monkeypatch.setattr(LocalStorage, "open", real_open)
    again = runner.invoke(args=["crypto", "migrate"])
    assert again.exit_code == 0 and "Left in clear: nothing." in again.output
    assert snapshot(app) == before


def test_an_owners_edit_read_before_the_item_was_sealed_is_refused_not_written_in_clear(app, runner, seeded):
    from app.submissions import owner, sealed

    with app.app_context():
        ad = db.session.get(Submission, seeded.ids["edited"])
        texts = sealed.Opener.for_receipt(b"\0" * 32).texts(ad)  # read in clear, as /status read it
        assert runner.invoke(args=["crypto", "migrate"]).exit_code == 0  # sealed meanwhile
        assert owner.edit(ad, {"title": "Newtitlewritten"}, texts) is False
    with app.app_context():
        ad = db.session.get(Submission, seeded.ids["edited"])
        assert (ad.title, ad.body, ad.before_edit) == (None, None, None)
    assert snapshot(app)[seeded.ids["edited"]]["texts"].title == "Saffroneditedtitle"


def test_a_file_whose_item_is_decided_while_it_is_copied_is_sealed_again_as_it_is_then(
    app, runner, seeded, monkeypatch
):
    """An approval, a closing or a renewal commits while the file is being encrypted: the row is left alone (the
    copies made are deleted) and the next round seals it, with the public copy the item needs then."""
    from app.submissions import migrate as module

    real_put, bumped = module.put, []

    def put(*args, **kwargs):
        if not bumped:  # another connection commits a decision on the item
            with db.engine.connect() as other:
                other.execute(update(Submission).values(version=Submission.version + 1))
                other.commit()
            bumped.append(1)
        return real_put(*args, **kwargs)

    monkeypatch.setattr(module, "put", put)
    before = snapshot(app)
    result = runner.invoke(args=["crypto", "migrate"])
    assert result.exit_code == 0 and "Left in clear: nothing." in result.output
    assert snapshot(app) == before
    with app.app_context():
        keys = {a.storage_key for a in db.session.scalars(select(Attachment))}
    names = {name.split("-")[0] for name in os.listdir(app.config["STORAGE_URL"])}
    assert names == keys  # the copies of the first try are gone
