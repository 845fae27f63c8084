"""Issue 28, item 3: a clock on everything. An item waiting longer than PENDING_MAX_DAYS since it last entered the
queue, and an open case nobody has worked on for CASE_IDLE_DAYS, go with `flask purge` (files, thread and notes),
unless a staff member renews them; the queue says so in their last week, the digest wakes, /status tells the day."""

import io
import os
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.audit import day_of
from app.extensions import db
from app.models import Attachment, Event, Message, Note, Submission, User, utcnow
from app.submissions import cases, decisions, threads
from tests.files import jpeg
from tests.helpers import make_reader, make_submission, receipt_from, sign_in


def later(days: float):
    return time_machine.travel(utcnow() + timedelta(days=days), tick=False)


def kept(app) -> set[int]:
    with app.app_context():
        return set(db.session.scalars(select(Submission.id)))


def events(app, action) -> list[Event]:
    with app.app_context():
        return list(db.session.scalars(select(Event).where(Event.action == action)))


def take_on(app, item_id, user_id):
    with app.app_context():
        item = db.session.get(Submission, item_id)
        decisions.approve(item_id, item.version, db.session.get(User, user_id))


def test_an_item_nobody_reviews_is_deleted_after_its_days_with_its_files_thread_and_notes(app, client, runner):
    olga = make_reader(app, "olga")
    data = {"telegram": "anna_k1", "body": "What I saw.", "attachments": [(io.BytesIO(jpeg()), "p.jpg")]}
    code = receipt_from(client.post("/submit/information", data=data).get_data(as_text=True))
    assert code
    [item_id] = kept(app)
    with app.app_context():
        threads.write(item_id, db.session.get(User, olga), "A question.")
        cases.add_note(item_id, db.session.get(User, olga), "A note.")
    with later(29):
        assert "Purged 0 submissions" in runner.invoke(args=["purge"]).output
    with later(31):
        result = runner.invoke(args=["purge"])
    assert "Purged 1 submissions, 1 files" in result.output
    assert kept(app) == set()
    with app.app_context():
        for model in (Attachment, Message, Note):
            assert db.session.scalars(select(model)).all() == []
    assert [e.submission_id for e in events(app, "expired")] == [item_id]
    assert os_listing(app) == []


def os_listing(app) -> list[str]:
    return sorted(os.listdir(app.config["STORAGE_URL"]))


def test_the_queue_says_deleted_on_in_the_last_week_and_status_tells_the_day(app, client):
    olga = make_reader(app, "olga")
    item_id, code = make_submission(app, "information", title="Old tip")
    sign_in(client, app, olga)
    row = client.get("/moderation").get_data(as_text=True).split(f'id="row-{item_id}"')[1].split("</li>")[0]
    assert "unless renewed" not in row
    with later(23.5):
        sign_in(client, app, olga)
        row = client.get("/moderation").get_data(as_text=True).split(f'id="row-{item_id}"')[1].split("</li>")[0]
        assert "deleted on" in row and "unless renewed" in row
        page = client.get(f"/moderation/{item_id}").get_data(as_text=True)
        assert f'action="/moderation/{item_id}/renew"' in page
    status = app.test_client().post("/status", data={"code": code}).get_data(as_text=True)
    assert 'id="status-deadline"' in status and "This is normal: our team keeps what it needs." in status


def test_a_renewal_needs_a_reason_and_starts_the_clock_again(app, client, runner):
    olga = make_reader(app, "olga")
    item_id, _ = make_submission(app, "information")
    with later(25):
        sign_in(client, app, olga)
        refused = client.post(f"/moderation/{item_id}/renew", data={})
        assert refused.status_code == 422 and "Choose why it should be kept." in refused.get_data(as_text=True)
        renewed = client.post(f"/moderation/{item_id}/renew", data={"renew_reason": "needs_time"})
        assert renewed.status_code == 303
        assert "Kept until" in client.get(f"/moderation/{item_id}").get_data(as_text=True)
    [event] = events(app, "clock_renewed")
    assert (event.submission_id, event.actor_id, event.detail) == (item_id, olga, "needs_time")
    with later(50):
        runner.invoke(args=["purge"])
    assert kept(app) == {item_id}
    with later(56):
        runner.invoke(args=["purge"])
    assert kept(app) == set()


def test_an_item_back_in_the_queue_counts_from_its_return(app, client, runner):
    """An owner's edit (or readers' reports) puts an ad back in the queue: its clock counts from then."""
    from app.submissions import owner, sealed

    ad_id, _ = make_submission(app, "ad", status="approved")
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        ad.published_at, ad.expires_at = utcnow(), utcnow() + timedelta(days=60)
        db.session.commit()
    with later(40), app.app_context():
        ad = db.session.get(Submission, ad_id)
        texts = sealed.Texts("anna_k1", "An ad", "Some text about a case.", "Vilnius")
        assert owner.edit(ad, {"title": "A changed ad"}, texts) is True
        queued = db.session.get(Submission, ad_id).queued_at
        assert queued == day_of(queued)  # its owner acted: the day alone
    with later(65):
        runner.invoke(args=["purge"])
    assert kept(app) == {ad_id}  # 25 days since it came back
    with later(71):
        runner.invoke(args=["purge"])
    assert kept(app) == set()


def test_an_open_case_is_kept_while_worked_on_and_a_read_is_no_work(app, client, runner):
    """Each kind of work starts the case's clock again (purged 55 days after each: kept); reading it does not."""
    olga = make_reader(app, "olga")
    worked, _ = make_submission(app, "information")
    idle, _ = make_submission(app, "information")
    with later(-40), app.app_context():  # a message while it waited, long before it was taken on: the take-on counts
        threads.write(worked, db.session.get(User, olga), "Before we take it on: is this recent?")
    for item_id in (worked, idle):
        take_on(app, item_id, olga)
    with later(30):
        runner.invoke(args=["purge"])
    assert kept(app) == {worked, idle}  # taken on 30 days ago: both kept
    touches = [
        lambda: cases.add_note(worked, db.session.get(User, olga), "Called."),
        lambda: threads.write(worked, db.session.get(User, olga), "Can you tell us more?"),
        lambda: cases.assign(worked, db.session.get(Submission, worked).version, db.session.get(User, olga), olga),
        lambda: threads.answer(db.session.get(Submission, worked), "Yes."),
    ]
    for day, touch in zip((50, 100, 150, 200), touches, strict=True):
        with later(day), app.app_context():
            touch()
        with later(day):
            sign_in(client, app, olga)
            client.get(f"/moderation/{idle}")  # read, not worked on
        with later(day + 55):
            runner.invoke(args=["purge"])
        assert worked in kept(app), day
        assert idle not in kept(app)  # gone at 60 days: the reads were no work
    with app.app_context():
        answered = db.session.get(Submission, worked).touched_at
    assert answered == day_of(answered)  # the sender's answer: the day alone, as the audit log keeps it
    with later(261):
        runner.invoke(args=["purge"])
    assert kept(app) == set()


@pytest.mark.parametrize("app_config", [{"PENDING_MAX_DAYS": 0, "CASE_IDLE_DAYS": 0}])
def test_a_setting_of_zero_makes_everything_due_at_once(app, runner):
    olga = make_reader(app, "olga")
    make_submission(app, "information")  # waiting
    case, _ = make_submission(app, "contact")
    take_on(app, case, olga)
    decided, _ = make_submission(app, "information", status="rejected")
    result = runner.invoke(args=["purge"])
    assert "Purged 2 submissions" in result.output
    assert kept(app) == {decided}
