"""The one place where a status changes: transitions, claims, undo, conflicts, and races."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event, Submission, User
from app.submissions import decisions as service
from tests.helpers import approve, make_submission, make_user, staff_opener


@pytest.fixture
def staff(app):
    """Two moderators who have signed in (so hold key pairs): what arrives after it, both open."""
    ids = [make_user(app, "olga"), make_user(app, "ivan")]
    with app.app_context():
        for username in ("olga", "ivan"):
            staff_opener(username)
        yield [db.session.get(User, i) for i in ids]


def load(submission_id):
    return db.session.get(Submission, submission_id, populate_existing=True)


def actions(submission_id):
    return db.session.scalars(select(Event.action).where(Event.submission_id == submission_id).order_by(Event.id)).all()


def test_approve_publishes_an_ad_for_thirty_days(app, staff):
    olga, _ = staff
    item_id, _code = make_submission(app, "ad")
    result = approve(item_id, 1, olga)
    item = load(item_id)
    assert (item.status, item.decided_by_id, item.version) == ("approved", olga.id, 2)
    assert item.expires_at - item.published_at == timedelta(days=Submission.AD_DAYS)
    assert result.event.action == "approved" and result.event.actor_id == olga.id
    assert actions(item_id) == ["submitted", "approved"]
    assert (item.public_copy.title, item.public_copy.body) == ("An ad", "Some text about a case.")  # what readers see


def test_an_ad_is_published_only_from_its_opened_words(app, staff):
    item_id, _ = make_submission(app, "ad")
    with pytest.raises(service.Locked):
        service.approve(item_id, 1, staff[0])  # (a session that cannot open it has no words to publish)
    assert load(item_id).status == "pending" and load(item_id).public_copy is None


def test_information_taken_on_is_an_open_case_never_published(app, staff):
    item_id, _ = make_submission(app, "information")
    result = approve(item_id, 1, staff[0])
    item = load(item_id)
    assert item.published_at is None and item.expires_at is None
    assert item.is_open_case and item.assigned_to_id == staff[0].id
    assert result.event.action == "taken_on"


def test_reject_keeps_the_reason_and_note(app, staff):
    item_id, _ = make_submission(app)
    service.reject(item_id, 1, staff[0], "unsafe", "Names a guard's family.")
    item = load(item_id)
    assert (item.status, item.reject_reason) == ("rejected", "unsafe")
    # The note is sealed to the item (its receipt holder reads it at /status): no clear column holds it.
    assert item.reject_note is None and b"guard" not in item.sealed_reject_note
    assert staff_opener().reject_note(item) == "Names a guard's family."
    with pytest.raises(service.NotAllowed):
        service.reject(make_submission(app)[0], 1, staff[0], "no-such-reason")


def test_a_stale_version_is_a_conflict_naming_who_did_what(app, staff):
    olga, ivan = staff
    item_id, _ = make_submission(app)
    approve(item_id, 1, olga)
    with pytest.raises(service.Conflict) as caught:
        service.reject(item_id, 1, ivan, "spam")
    assert caught.value.event.action == "taken_on"
    assert caught.value.event.actor.username == "olga"
    assert load(item_id).status == "approved"


def test_a_claim_keeps_others_away_for_ten_minutes(app, staff):
    olga, ivan = staff
    item_id, _ = make_submission(app)
    claimed = service.claim(item_id, olga)
    assert claimed.claimed_by_id == olga.id
    assert claimed.claimed_until - claimed.created_at >= timedelta(minutes=service.CLAIM_MINUTES - 1)
    with pytest.raises(service.Conflict) as caught:
        approve(item_id, 1, ivan)
    assert caught.value.claimed and caught.value.submission.claimed_by.username == "olga"
    with pytest.raises(service.Conflict):
        service.claim(item_id, ivan)
    # The claimant can act; when the claim runs out, anyone can.
    item = load(item_id)
    item.claimed_until = item.created_at - timedelta(seconds=1)
    db.session.commit()
    approve(item_id, 1, ivan)
    assert load(item_id).decided_by_id == ivan.id


def test_undo_within_ten_seconds_returns_the_item_to_the_queue(app, staff):
    olga, ivan = staff
    item_id, _ = make_submission(app, "ad")
    approve(item_id, 1, olga)
    with pytest.raises(service.NotAllowed):
        service.undo(item_id, 2, ivan)  # only the one who decided can undo
    service.undo(item_id, 2, olga)
    item = load(item_id)
    assert (item.status, item.published_at, item.decided_by_id, item.version) == ("pending", None, None, 3)
    assert item.public_copy is None  # the clear copy goes with the publication
    assert actions(item_id)[-2:] == ["approved", "undone"]


def test_undo_after_the_window_is_refused(app, staff):
    olga, _ = staff
    item_id, _ = make_submission(app)
    service.reject(item_id, 1, olga, "spam")
    item = load(item_id)
    item.decided_at -= timedelta(seconds=service.UNDO_SECONDS + 1)
    db.session.commit()
    with pytest.raises(service.NotAllowed):
        service.undo(item_id, 2, olga)
    assert load(item_id).status == "rejected"


def test_edit_records_which_fields_changed_but_not_their_content(app, staff):
    item_id, _ = make_submission(app, "ad", title="Old title")
    opener = staff_opener()
    result = service.edit_ad(
        item_id,
        1,
        staff[0],
        {"title": "New title", "body": "Some text about a case.", "category": "housing", "city": "Vilnius"},
        opener.texts(load(item_id)),
    )
    assert result.event.detail == "changed: title"
    assert "New title" not in result.event.detail
    item = load(item_id)
    assert item.version == 2 and item.title is None  # sealed again, with the rest of its words
    edited = staff_opener().texts(item)
    assert (edited.title, edited.body, edited.telegram) == ("New title", "Some text about a case.", "anna_k1")
    with pytest.raises(service.Locked):
        service.edit_ad(item_id, 2, staff[0], {"title": "x"}, None)  # an ad is edited from its words
    information = make_submission(app, "information")[0]
    with pytest.raises(service.NotAllowed):
        service.edit_ad(information, 1, staff[0], {"title": "x"}, opener.texts(load(information)))


def test_bulk_spam_skips_items_someone_else_holds(app, staff):
    olga, ivan = staff
    first, _ = make_submission(app)
    second, _ = make_submission(app)
    service.claim(second, ivan)
    from app.submissions import bulk

    batch = bulk.apply([(first, 1), (second, 1)], olga, "reject", "spam")
    assert (batch.done, batch.changed) == ([(first, 2)], [second])
    assert load(first).reject_reason == "spam" and load(second).status == "pending"


@pytest.mark.parametrize("actions_pair", [("approve", "reject"), ("approve", "approve"), ("reject", "edit")])
def test_two_conflicting_actions_at_once_exactly_one_wins(app, staff, actions_pair):
    olga_id, ivan_id = (u.id for u in staff)
    item_id, _ = make_submission(app, "ad")
    barrier = threading.Barrier(2)
    outcomes = {}

    def run(name, user_id, action):
        with app.app_context():
            user = db.session.get(User, user_id)
            words = staff_opener(name).texts(db.session.get(Submission, item_id))
            calls = {
                "approve": lambda: approve(item_id, 1, user),
                "reject": lambda: service.reject(item_id, 1, user, "spam"),
                "edit": lambda: service.edit_ad(item_id, 1, user, {"title": f"by {name}"}, words),
            }
            barrier.wait()
            try:
                calls[action]()
                outcomes[name] = "won"
            except service.Conflict:
                outcomes[name] = "conflict"
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=run, args=("olga", olga_id, actions_pair[0])),
        threading.Thread(target=run, args=("ivan", ivan_id, actions_pair[1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes.values()) == ["conflict", "won"], outcomes
    assert load(item_id).version == 2
    decisions = [a for a in actions(item_id) if a != "submitted"]
    assert len(decisions) == 1
