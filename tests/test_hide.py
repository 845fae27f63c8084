"""Issue 29, item 4: "Hide these messages here" at /status. The staff messages its sender has read are sealed again
to the queue key alone: the receipt no longer opens them (a seized phone with the code gives nothing), staff still
read them, marked "hidden by the sender" with the day, and new messages still arrive."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event, Message, Submission, User
from app.submissions import sealed, threads
from tests.helpers import make_reader, make_submission, sign_in, staff_opener
from tests.test_sealed_markers import database_copy


def write(app, item_id, user_id, text):
    with app.app_context():
        threads.write(item_id, db.session.get(User, user_id), text)


def test_hidden_messages_leave_the_receipt_and_stay_for_staff(app, client):
    olga = make_reader(app, "olga")
    item_id, code = make_submission(app, "information")
    write(app, item_id, olga, "Where exactly was it? Garnetquestion")
    write(app, item_id, olga, "And when? Turquoisequestion")
    with app.app_context():
        before = [m.sealed for m in db.session.scalars(select(Message))]
    page = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Garnetquestion" in page and 'action="/status/hide"' in page
    hidden = client.post("/status/hide", data={"code": code})
    assert hidden.status_code == 200
    html = hidden.get_data(as_text=True)
    assert "Our messages are hidden here" in html and "Garnetquestion" not in html and "Turquoisequestion" not in html
    assert "You hid this message on" in html and 'action="/status/hide"' not in html  # nothing left to hide
    with app.app_context():
        item = db.session.get(Submission, item_id)
        receipt = client.post("/status", data={"code": code})  # (the receipt's own view, once more)
        assert "Garnetquestion" not in receipt.get_data(as_text=True)
        staff = staff_opener("olga")
        assert [staff.message(m) for m in item.messages] == [
            "Where exactly was it? Garnetquestion",
            "And when? Turquoisequestion",
        ]
        [event] = db.session.scalars(select(Event).where(Event.action == "hidden")).all()
        assert event.actor_id is None and event.day_only
    data = database_copy(app)
    assert not any(old in data for old in before)  # the copies the receipt opened are gone from the files
    moderator = app.test_client()
    sign_in(moderator, app, olga)
    staff_page = moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert "hidden by the sender on" in staff_page and "Garnetquestion" in staff_page
    write(app, item_id, olga, "One more question. Amberquestion")
    later = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Amberquestion" in later and "Garnetquestion" not in later and 'action="/status/hide"' in later


def test_the_receipt_opens_nothing_hidden_even_with_its_key(app):
    from app import receipts
    from app.crypto import receipts as receipt_keys

    olga = make_reader(app, "olga")
    item_id, code = make_submission(app, "information")
    write(app, item_id, olga, "Lilacquestion")
    with app.app_context():
        item = db.session.get(Submission, item_id)
        opener = sealed.Opener.for_receipt(receipt_keys.derive(receipts.parse(code)).key)
        assert threads.hide(item, opener) == 1
        assert [opener.message(m) for m in item.messages] == [None]
        assert threads.hide(item, opener) == 0  # nothing more to hide


def test_a_wrong_code_hides_nothing_and_says_what_a_wrong_code_says(app, client):
    from tests.test_status import NOT_FOUND

    response = client.post("/status/hide", data={"code": "1111 2222 3333 4444"})
    assert NOT_FOUND in response.get_data(as_text=True)


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "REPLY_RATELIMIT": "1 per hour"}])
def test_hiding_counts_toward_what_a_receipt_holder_may_send(app, client):
    """Each hiding rewrites the database's files (erasure.settle): it shares the budget of answers and edits."""
    olga = make_reader(app, "olga")
    item_id, code = make_submission(app, "information")
    write(app, item_id, olga, "First question")
    client.post("/status", data={"code": code})
    assert client.post("/status/hide", data={"code": code}).status_code == 200
    write(app, item_id, olga, "Second question")
    client.post("/status", data={"code": code})
    assert client.post("/status/hide", data={"code": code}).status_code == 429
