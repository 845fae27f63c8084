"""Issue 28, item 2: reads on the record. Opening an item, downloading or previewing its files and searching the
queue each leave a row (person, item, kind, the hour), never the words searched; not audit events, so a cached
readers' page stays cached; the audit log shows them, by person and item; an item's page shows admins who looked."""

import io
from datetime import timedelta

import time_machine
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, StaffRead, Submission, utcnow
from tests.files import jpeg
from tests.helpers import HX, make_reader, receipt_from, sign_in
from tests.test_pagecache import approve, queries_for
from tests.test_sealed_markers import database_copy, found


def sent_with_a_photo(app, client, body="What I saw.") -> tuple[int, int]:
    data = {"telegram": "anna_k1", "body": body, "attachments": [(io.BytesIO(jpeg()), "p.jpg")]}
    page = client.post("/submit/information", data=data, content_type="multipart/form-data")
    assert receipt_from(page.get_data(as_text=True))
    with app.app_context():
        item = db.session.scalars(select(Submission).order_by(Submission.id.desc())).first()
        return item.id, item.attachments[0].id


def rows(app) -> list[tuple]:
    with app.app_context():
        found_rows = db.session.scalars(select(StaffRead).order_by(StaffRead.id))
        return [(r.user_id, r.kind, r.submission_id) for r in found_rows]


def event_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Event))


def test_each_read_is_one_row_an_hour_and_no_event(app, client):
    olga = make_reader(app, "olga")
    item_id, attachment_id = sent_with_a_photo(app, app.test_client())
    sign_in(client, app, olga)
    events = event_count(app)
    for _ in range(2):  # the same read twice within the hour: one row
        assert client.get(f"/moderation/{item_id}").status_code == 200
        assert client.get(f"/moderation/{item_id}", headers=HX | {"HX-Target": "panel"}).status_code == 200
        assert client.get(f"/moderation/attachments/{attachment_id}").status_code == 200
        assert client.get(f"/moderation/attachments/{attachment_id}/preview").status_code == 200
        assert client.get("/moderation?q=Zirconsearchword").status_code == 200
    assert client.get("/moderation").status_code == 200  # the queue itself is no read of an item
    assert rows(app) == [
        (olga, "item", item_id),
        (olga, "file", item_id),
        (olga, "preview", item_id),
        (olga, "search", None),
    ]
    assert event_count(app) == events
    assert not found(database_copy(app), "Zirconsearchword")  # what was searched is kept nowhere
    with time_machine.travel(utcnow() + timedelta(hours=1), tick=False):
        sign_in(client, app, olga)
        client.get(f"/moderation/{item_id}")
    assert rows(app)[-1] == (olga, "item", item_id)
    assert len(rows(app)) == 5  # the next hour: a row of its own


def test_a_staff_read_leaves_a_cached_readers_page_cached(app, client):
    olga = make_reader(app, "olga")
    item_id, _ = sent_with_a_photo(app, app.test_client())
    from tests.helpers import make_submission

    ad, _ = make_submission(app, "ad", title="Cached sofa")
    approve(app, olga, ad)
    sign_in(client, app, olga)  # (signing in is an event: before the page is kept)
    reader = app.test_client()
    assert queries_for(app, reader, "/ads") > 1  # made
    client.get(f"/moderation/{item_id}")
    client.get("/moderation?q=sofa")
    assert len(rows(app)) == 2
    assert queries_for(app, reader, "/ads") <= 1  # still the kept page (SQLite: one look at the newest event)


def test_the_audit_log_shows_reads_by_person_and_item_and_the_item_shows_admins_who_looked(app, client):
    admin = make_reader(app, "ivan", role="admin")
    olga = make_reader(app, "olga")
    anna = make_reader(app, "anna")
    item_id, _ = sent_with_a_photo(app, app.test_client())
    other_id, _ = sent_with_a_photo(app, app.test_client(), body="Something else I saw.")
    for user, item in ((olga, item_id), (anna, other_id)):
        staff = app.test_client()
        sign_in(staff, app, user)
        staff.get(f"/moderation/{item}")
    sign_in(client, app, admin)
    log = client.get("/admin/audit?actor=olga").get_data(as_text=True)
    reads = log.split('id="reads"')[1]
    assert "olga" in reads and "opened the item" in reads and f"#{item_id}" in reads and f"#{other_id}" not in reads
    by_item = client.get(f"/admin/audit?submission={other_id}").get_data(as_text=True).split('id="reads"')[1]
    assert "anna" in by_item and "olga" not in by_item
    page = client.get(f"/moderation/{item_id}").get_data(as_text=True)
    looked = page.split("Who has looked at it")[1].split("</section>")[0]
    assert "olga" in looked and "anna" not in looked
    moderator = app.test_client()
    sign_in(moderator, app, olga)
    assert "Who has looked at it" not in moderator.get(f"/moderation/{item_id}").get_data(as_text=True)


def test_purge_forgets_reads_as_old_as_the_events_it_forgets(app, client, runner):
    olga = make_reader(app, "olga")
    item_id, _ = sent_with_a_photo(app, app.test_client())
    sign_in(client, app, olga)
    client.get(f"/moderation/{item_id}")
    days = app.config["EVENT_RETENTION_DAYS"]
    with time_machine.travel(utcnow() + timedelta(days=days - 1), tick=False):
        runner.invoke(args=["purge"])
    assert len(rows(app)) == 1
    with time_machine.travel(utcnow() + timedelta(days=days + 1), tick=False):
        runner.invoke(args=["purge"])
    assert rows(app) == []
