"""Issue 28, item 1: a submitter's Telegram username is in no response until a staff member asks for it, with a
reason (but the case's assignee, after a day); each ask is recorded, sealed and counted, and limited per person."""

from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app import labels
from app.extensions import db
from app.models import Event, Reveal, Submission, User, utcnow
from tests.helpers import HX, make_reader, make_submission, sign_in, staff_opener

HANDLE = "quiet_witness_77"


@pytest.fixture
def olga(app, client):
    user_id = make_reader(app, "olga")
    sign_in(client, app, user_id)
    return user_id


def reveal(client, item_id, reason="contact", **headers):
    data = {"reveal_reason": reason} if reason else {}
    return client.post(f"/moderation/{item_id}/reveal", data=data, headers=headers)


def reveal_events(app) -> list[Event]:
    with app.app_context():
        return list(db.session.scalars(select(Event).where(Event.action == "revealed")))


def test_no_page_carries_the_username_until_asked(app, client, olga):
    item_id, _ = make_submission(app, "information", telegram=HANDLE, title="Parcels at the colony")
    ad_id, _ = make_submission(app, "ad", telegram=HANDLE + "_ad", title="A room", status="approved")
    pages = {
        "queue": client.get("/moderation"),
        "approved": client.get("/moderation?status=approved"),
        "item": client.get(f"/moderation/{item_id}"),
        "panel": client.get(f"/moderation/{item_id}", headers=HX | {"HX-Target": "panel"}),
        "ad": client.get(f"/moderation/{ad_id}"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert HANDLE not in response.get_data(as_text=True), name
    item = pages["item"].get_data(as_text=True)
    assert "@q" + "•" * (len(HANDLE) - 1) in item and f"{len(HANDLE)} characters" in item
    assert f'action="/moderation/{item_id}/reveal"' in item
    searched = client.get(f"/moderation?q={HANDLE}").get_data(as_text=True)  # (the page repeats what was typed)
    assert f'id="row-{item_id}"' not in searched  # never matched
    assert f'id="row-{item_id}"' in client.get("/moderation?q=colony").get_data(as_text=True)  # a word of it is
    assert reveal_events(app) == []


def test_asking_without_a_reason_is_refused_and_shows_nothing(app, client, olga):
    item_id, _ = make_submission(app, "information", telegram=HANDLE)
    response = reveal(client, item_id, reason=None)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Choose why you need to see it." in html and HANDLE not in html
    assert reveal(client, item_id, reason="curiosity").status_code == 422  # not a reason of the list
    assert reveal_events(app) == []


def test_a_reveal_shows_the_username_once_uncached_and_leaves_a_sealed_trace(app, client, olga):
    item_id, _ = make_submission(app, "information", telegram=HANDLE)
    response = reveal(client, item_id, reason="check")
    assert response.status_code == 200
    assert f"@{HANDLE}" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    assert HANDLE not in client.get(f"/moderation/{item_id}").get_data(as_text=True)  # masked again next time
    [event] = reveal_events(app)
    assert (event.submission_id, event.actor_id, event.detail) == (item_id, olga, "")
    with app.app_context():
        [row] = db.session.scalars(select(Reveal)).all()
        assert b"check" not in row.sealed
        assert staff_opener("olga").staff_only(row.epoch_id, row.sealed, None) == "check"


def test_htmx_swaps_the_username_line_alone(app, client, olga):
    item_id, _ = make_submission(app, "information", telegram=HANDLE)
    response = reveal(client, item_id, **HX, **{"HX-Target": f"handle-{item_id}"})
    html = response.get_data(as_text=True)
    assert f"@{HANDLE}" in html and "<html" not in html and "item-head" not in html


def test_the_assignee_of_a_case_open_a_day_needs_no_reason_and_others_do(app, client, olga):
    anna = make_reader(app, "anna")
    item_id, _ = make_submission(app, "information", telegram=HANDLE)
    with app.app_context():
        item = db.session.get(Submission, item_id)
        item.status, item.decided_at, item.assigned_to_id = "approved", utcnow(), olga
        db.session.commit()
    page = client.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert 'name="reveal_reason"' in page  # a case taken on today: a reason still
    assert reveal(client, item_id, reason=None).status_code == 422
    with time_machine.travel(utcnow() + timedelta(hours=25), tick=False):
        sign_in(client, app, olga)
        page = client.get(f"/moderation/{item_id}").get_data(as_text=True)
        assert 'name="reveal_reason"' not in page
        assert f"@{HANDLE}" in reveal(client, item_id, reason=None).get_data(as_text=True)
        other = app.test_client()
        sign_in(other, app, anna)
        assert reveal(other, item_id, reason=None).status_code == 422  # not hers
    with app.app_context():
        opener = staff_opener("olga")
        assert [opener.staff_only(r.epoch_id, r.sealed, None) for r in db.session.scalars(select(Reveal))] == [
            "assignee"
        ]


@pytest.mark.parametrize("app_config", [{"REVEALS_PER_DAY": 2}])
def test_a_person_sees_at_most_the_days_number_and_an_admin_sees_each_count(app, client, olga):
    admin = make_reader(app, "ivan", role="admin")  # (before the items: they are sealed to an epoch he holds)
    items = [make_submission(app, "information", telegram=f"{HANDLE}{n}")[0] for n in range(3)]
    assert reveal(client, items[0]).status_code == 200
    assert reveal(client, items[1]).status_code == 200
    refused = reveal(client, items[2])
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "You have seen 2 usernames in the last 24 hours" in html and f"{HANDLE}2" not in html
    boss = app.test_client()
    sign_in(boss, app, admin)
    users = boss.get("/admin/users").get_data(as_text=True)
    row = users.split(">olga</th>")[1].split("</tr>")[0]
    assert "2 / 2" in row
    item = boss.get(f"/moderation/{items[0]}").get_data(as_text=True)
    assert "Who has seen the username" in item and str(labels.REVEAL_REASONS["contact"]) in item
    assert "Who has seen the username" not in client.get(f"/moderation/{items[0]}").get_data(as_text=True)
    with time_machine.travel(utcnow() + timedelta(hours=25), tick=False):
        sign_in(client, app, olga)
        assert reveal(client, items[2]).status_code == 200  # a day later


def test_a_locked_item_offers_no_reveal(app, client):
    make_reader(app, "olga")
    item_id, _ = make_submission(app, "information", telegram=HANDLE)  # before anna's account: not hers
    anna = make_reader(app, "anna")
    sign_in(client, app, anna)
    page = client.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert "/reveal" not in page and HANDLE not in page
    response = reveal(client, item_id)
    assert HANDLE not in response.get_data(as_text=True)
    assert reveal_events(app) == []


def test_taking_a_case_on_or_giving_it_to_oneself_opens_no_username_for_a_day(app, client, olga):
    from app.submissions import cases, decisions

    anna = make_reader(app, "anna")
    item_id, _ = make_submission(app, "information", telegram=HANDLE)
    with time_machine.travel(utcnow() - timedelta(days=3), tick=False), app.app_context():
        decisions.approve(item_id, 1, db.session.get(User, anna))  # anna took it on three days ago
    with app.app_context():
        cases.assign(item_id, 2, db.session.get(User, olga), olga)  # olga gives it to herself now
    assert reveal(client, item_id, reason=None).status_code == 422
    with time_machine.travel(utcnow() + timedelta(hours=25), tick=False):
        sign_in(client, app, olga)
        assert f"@{HANDLE}" in reveal(client, item_id, reason="check").get_data(as_text=True)  # (a reason posted...)
    with app.app_context():
        [row] = db.session.scalars(select(Reveal)).all()
        assert staff_opener("olga").staff_only(row.epoch_id, row.sealed, None) == "assignee"  # ...is not the one kept


def test_an_owners_edit_keeps_the_username_the_ad_shows(app, client, olga):
    """The owner's edit is made from all its words, the username too, though no page shows that one."""
    from tests.helpers import approve

    ad_id, code = make_submission(app, "ad", telegram=HANDLE, show_contact=True, status="approved")
    fields = {"code": code, "title": "A lamp, changed", "category": "goods", "city": "Vilnius", "body": "Still free."}
    assert app.test_client().post("/status/edit", data=fields).status_code == 200
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        approve(ad_id, ad.version, db.session.get(User, olga))
        assert db.session.get(Submission, ad_id).public_copy.telegram == HANDLE
    assert f"@{HANDLE}" in reveal(client, ad_id).get_data(as_text=True)
