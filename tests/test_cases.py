"""Cases: information and contacts taken on, assigned, noted, marked done (forgetting the contact), listed by age;
an admin's deletion at once."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event, Note, Submission, utcnow
from tests.helpers import count, errors_in, hx, make_submission, make_user, sign_in, texts
from tests.test_retention import database_bytes, sqlite_only


@pytest.fixture
def two(app, moderator):
    """olga (the `moderator` client) and ivan, each signed in on their own client."""
    ivan = app.test_client()
    sign_in(ivan, app, make_user(app, "ivan", "moderator"))
    return moderator, ivan


def take_on(client, submission_id, version=1):
    return client.post(f"/moderation/{submission_id}/approve", data={"version": version})


def load(app, submission_id) -> Submission:
    with app.app_context():
        item = db.session.get(Submission, submission_id)
        if item is not None:
            db.session.expunge(item)
        return item


def user_id(app, username) -> int:
    from app.models import User

    with app.app_context():
        return db.session.scalar(select(User.id).where(User.username == username))


def events(app, submission_id) -> list[Event]:
    with app.app_context():
        found = db.session.scalars(select(Event).where(Event.submission_id == submission_id).order_by(Event.id))
        return [(e.action, e.detail) for e in found]


def row_ids(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="row-(\d+)"', html)]


def test_taking_on_makes_an_open_case_assigned_to_the_taker(app, two):
    olga, _ivan = two
    item_id, _ = make_submission(app, "contact")
    page = olga.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert "Take it on" in page
    assert take_on(olga, item_id).status_code == 303
    item = load(app, item_id)
    assert item.status == "approved" and item.done_at is None and item.assigned_to_id == user_id(app, "olga")
    page = olga.get(f"/moderation/{item_id}").get_data(as_text=True)
    for action in ("assign", "done", "note", "message"):
        assert f'action="/moderation/{item_id}/{action}"' in page


def test_my_cases_and_open_cases_list_them_with_counts_and_age(app, two):
    olga, ivan = two
    mine, _ = make_submission(app, "information")
    theirs, _ = make_submission(app, "contact")
    ad, _ = make_submission(app, "ad")
    pending, _ = make_submission(app, "information")
    take_on(olga, mine)
    take_on(ivan, theirs)
    take_on(olga, ad)
    with app.app_context():  # olga's case was taken on 40 days ago and nobody has marked it done
        db.session.get(Submission, mine).decided_at = utcnow() - timedelta(days=40)
        db.session.commit()
    assert row_ids(olga.get("/moderation?view=mine").get_data(as_text=True)) == [mine]
    open_cases = olga.get("/moderation?view=open").get_data(as_text=True)
    assert row_ids(open_cases) == [mine, theirs]  # oldest first; no ad, nothing pending
    assert "case for 1 month · olga" in open_cases and "· ivan" in open_cases
    assert pending not in row_ids(open_cases)
    tabs = olga.get("/moderation/counts", headers=hx("queue-tabs")).get_data(as_text=True)
    assert dict(re.findall(r'id="case-count-(\w+)">(\d+)<', tabs)) == {
        "mine": "1",
        "open": "2",
        "answers": "0",
        "unproved": "0",
    }
    assert dict(re.findall(r'id="count-(\w+)">(\d+)<', tabs))["all"] == "1"  # the pending tabs are unchanged


def test_a_case_is_assigned_to_a_colleague_and_a_stale_assignment_is_a_409(app, two):
    olga, ivan = two
    item_id, _ = make_submission(app)
    take_on(olga, item_id)  # version 2
    ivan_id = user_id(app, "ivan")
    assert olga.post(f"/moderation/{item_id}/assign", data={"version": 2, "assignee": ivan_id}).status_code == 303
    assert load(app, item_id).assigned_to_id == ivan_id
    assert ("assigned", "ivan") in events(app, item_id)
    assert row_ids(ivan.get("/moderation?view=mine").get_data(as_text=True)) == [item_id]
    # ivan saw version 2 too: his assignment back to olga is stale, and says who did what.
    stale = ivan.post(f"/moderation/{item_id}/assign", data={"version": 2, "assignee": user_id(app, "olga")})
    assert stale.status_code == 409
    assert "olga assigned the case" in stale.get_data(as_text=True)
    assert load(app, item_id).assigned_to_id == ivan_id


def test_a_case_cannot_go_to_an_editor_or_a_disabled_account(app, two):
    olga, _ivan = two
    item_id, _ = make_submission(app)
    take_on(olga, item_id)
    editor = make_user(app, "erin", "editor")
    gone = make_user(app, "gone", "moderator", active=False)
    for assignee in (editor, gone, 999):
        response = olga.post(f"/moderation/{item_id}/assign", data={"version": 2, "assignee": assignee})
        assert response.status_code == 422
        assert errors_in(response.get_data(as_text=True)) == ["Choose a colleague from the list."]
    assert load(app, item_id).assigned_to_id == user_id(app, "olga")


def test_notes_are_staff_only_hold_no_text_in_the_audit_and_leave_the_version(app, two, client):
    olga, ivan = two
    item_id, code = make_submission(app)
    take_on(olga, item_id)
    secret = "Her brother has a lawyer, Mr Kovalenko"
    assert olga.post(f"/moderation/{item_id}/note", data={"internal_note": secret}).status_code == 303
    assert load(app, item_id).version == 2
    assert secret in ivan.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert ("noted", "") in events(app, item_id)
    with app.app_context():
        assert not any(secret in e.detail for e in db.session.scalars(select(Event)))
    # Ivan's decision made on version 2 still holds after the note.
    assert ivan.post(f"/moderation/{item_id}/done", data={"version": 2}).status_code == 303
    status = app.test_client().post("/status", data={"code": code}).get_data(as_text=True)
    assert "Kovalenko" not in status


def test_an_empty_or_long_note_is_refused_and_keeps_what_was_typed(app, moderator):
    item_id, _ = make_submission(app)
    assert errors_in(
        moderator.post(f"/moderation/{item_id}/note", data={"internal_note": " "}).get_data(as_text=True)
    ) == ["Write the note first."]
    long = "n" * (Note.BODY_MAX + 1)
    response = moderator.post(f"/moderation/{item_id}/note", data={"internal_note": long})
    assert response.status_code == 422 and long in response.get_data(as_text=True)
    assert count(app, Note) == 0


def test_marking_done_keeps_the_contact_unless_asked_to_forget_it(app, two):
    olga, _ivan = two
    kept, _ = make_submission(app, telegram="keep_this_one")
    take_on(olga, kept)
    assert olga.post(f"/moderation/{kept}/done", data={"version": 2}).status_code == 303
    assert load(app, kept).done_at is not None and texts(app, kept).telegram == "keep_this_one"
    assert ("done", "") in events(app, kept)
    assert kept not in row_ids(olga.get("/moderation?view=open").get_data(as_text=True))
    # Done is done: a second "done" or an assignment is refused, not applied again.
    again = olga.post(f"/moderation/{kept}/done", data={"version": 3})
    assert again.status_code == 422 and "can no longer be done" in again.get_data(as_text=True)


def sealed_fields(app, item_id) -> bytes:
    with app.app_context():
        return db.session.get(Submission, item_id).sealed


def test_done_with_forgetting_erases_the_username_and_its_digest_from_every_database_file(app, moderator, client):
    """The username is sealed with the text (never in clear at rest): forgetting it seals the text again without
    it, and the old sealed fields, which held it, leave every database file."""
    response = client.post("/submit/information", data={"telegram": "forget_me_now", "body": "A tip to follow up."})
    assert response.status_code == 200
    with app.app_context():
        item_id = db.session.scalar(select(Submission.id))
        assert db.session.get(Submission, item_id).dedupe_digest is not None
    assert texts(app, item_id).telegram == "forget_me_now"
    old = sealed_fields(app, item_id)
    sqlite = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    if sqlite:
        data = database_bytes(app)
        assert b"forget_me_now" not in data and old in data
    take_on(moderator, item_id)
    response = moderator.post(f"/moderation/{item_id}/done", data={"version": 2, "forget": "y"})
    assert response.status_code == 303
    item = load(app, item_id)
    assert item.telegram is None and item.dedupe_digest is None and item.sealed != old
    words = texts(app, item_id)
    assert words.telegram is None and words.body == "A tip to follow up."
    assert ("forgotten", "") in events(app, item_id)
    assert "forgotten" in moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    if sqlite:
        data = database_bytes(app)
        assert b"forget_me_now" not in data and old not in data


def test_forgetting_leaves_no_copy_in_the_wal_while_another_connection_reads(app, moderator, client):
    sqlite_only(app)
    from tests.test_retention import Reader

    client.post("/submit/contact", data={"telegram": "read_while_forgotten", "body": "Help.", "purpose": "job"})
    with app.app_context():
        item_id = db.session.scalar(select(Submission.id))
    take_on(moderator, item_id)
    old = sealed_fields(app, item_id)
    data = database_bytes(app)
    assert old in data and b"read_while_forgotten" not in data
    with Reader(app, 0.5):
        assert moderator.post(f"/moderation/{item_id}/done", data={"version": 2, "forget": "y"}).status_code == 303
    assert old not in database_bytes(app)
    assert texts(app, item_id).telegram is None


def test_a_stale_done_is_a_409_naming_who_did_what(app, two):
    olga, ivan = two
    item_id, _ = make_submission(app)
    take_on(olga, item_id)
    assert olga.post(f"/moderation/{item_id}/assign", data={"version": 2, "assignee": user_id(app, "ivan")})
    response = ivan.post(f"/moderation/{item_id}/done", data={"version": 2, "forget": "y"}, headers=hx("panel"))
    assert response.status_code == 409
    assert "olga assigned the case" in response.get_data(as_text=True)
    assert texts(app, item_id).telegram == "anna_k1"


def test_case_actions_in_the_panel_answer_with_the_item_again(app, moderator):
    item_id, _ = make_submission(app)
    take_on(moderator, item_id)
    response = moderator.post(
        f"/moderation/{item_id}/note", data={"internal_note": "Called back."}, headers=hx("panel")
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in html
    assert f'id="item-{item_id}"' in html and "The note is added." in html and "Called back." in html
    assert response.headers["HX-Trigger"] == "queue-changed"


def test_only_an_admin_deletes_an_item_and_only_after_confirming(app, moderator, tmp_path):
    item_id, code = make_submission(app)
    assert moderator.get(f"/moderation/{item_id}/delete").status_code == 403
    assert "Delete this item now" not in moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    admin = app.test_client()
    sign_in(admin, app, make_user(app, "ivan", "admin"))
    assert "Delete this item now" in admin.get(f"/moderation/{item_id}").get_data(as_text=True)
    page = admin.get(f"/moderation/{item_id}/delete")
    assert page.status_code == 200 and 'name="confirm"' in page.get_data(as_text=True)
    unconfirmed = admin.post(f"/moderation/{item_id}/delete", data={})
    assert unconfirmed.status_code == 422
    assert errors_in(unconfirmed.get_data(as_text=True)) == ["Tick the box to confirm the deletion."]
    assert load(app, item_id) is not None
    done = admin.post(f"/moderation/{item_id}/delete", data={"confirm": "y"})
    assert done.status_code == 303 and load(app, item_id) is None
    assert events(app, item_id)[-1] == ("deleted", "information")
    with app.app_context():
        deleted = db.session.scalars(select(Event).where(Event.action == "deleted")).one()
        assert deleted.actor_id == user_id(app, "ivan")
    from tests.test_status import NOT_FOUND

    assert errors_in(app.test_client().post("/status", data={"code": code}).get_data(as_text=True)) == [NOT_FOUND]


def test_taking_on_cannot_be_undone_once_the_case_is_done(app, moderator):
    item_id, _ = make_submission(app)
    take_on(moderator, item_id)
    moderator.post(f"/moderation/{item_id}/done", data={"version": 2, "forget": "y"})
    assert moderator.post(f"/moderation/{item_id}/undo", data={"version": 3}).status_code in (303, 409)
    item = load(app, item_id)
    assert item.status == "approved" and item.done_at is not None


def test_acting_on_an_item_an_admin_deleted_says_who_deleted_it(app, moderator):
    item_id, _ = make_submission(app)
    admin = app.test_client()
    sign_in(admin, app, make_user(app, "ivan", "admin"))
    admin.post(f"/moderation/{item_id}/delete", data={"confirm": "y"})
    for action, data in (("note", {"internal_note": "Late."}), ("message", {"message": "Hello?"}), ("read", {})):
        response = moderator.post(f"/moderation/{item_id}/{action}", data=data, headers=hx("panel"))
        assert response.status_code == 409, action
        assert "ivan deleted it" in response.get_data(as_text=True)
