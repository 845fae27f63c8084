"""Issue 28, item 5: bulk work that can be undone. Ticked items are taken on (information and contacts, never ads)
or rejected with a reason, each checked against the version seen (one someone else changed is reported, not
overwritten), and the whole batch has one undo within the undo window."""

from datetime import timedelta

import time_machine
from sqlalchemy import update

from app.extensions import db
from app.models import Submission, utcnow
from app.submissions import decisions
from tests.helpers import make_reader, make_submission, sign_in


def ticked(*items) -> list[str]:
    return [f"{i}:1" for i in items]


def status(app, item_id) -> tuple:
    with app.app_context():
        item = db.session.get(Submission, item_id)
        return item.status, item.reject_reason, item.version


def queue(client) -> str:
    return client.get("/moderation").get_data(as_text=True)


def test_take_on_many_leaves_ads_and_reports_what_someone_else_changed(app, client):
    olga = make_reader(app, "olga")
    info, _ = make_submission(app, "information")
    contact, _ = make_submission(app, "contact")
    ad, _ = make_submission(app, "ad")
    changed, _ = make_submission(app, "information")
    with app.app_context():  # another moderator decided it after the page was drawn
        db.session.execute(update(Submission).where(Submission.id == changed).values(status="rejected", version=2))
        db.session.commit()
    sign_in(client, app, olga)
    data = {"bulk_action": "take_on", "item": ticked(info, contact, ad, changed)}
    assert client.post("/moderation/bulk", data=data).status_code == 303
    page = queue(client)
    assert "2 items taken on." in page
    assert f"Not taken on: #{ad}. Ads are approved one at a time, from their page." in page
    assert f"Left as they are, because someone else acted on them first: #{changed}." in page
    assert status(app, info)[0] == status(app, contact)[0] == "approved"
    with app.app_context():
        taken = [db.session.get(Submission, i) for i in (info, contact)]
        # One decision time for the batch (one undo window), the cases theirs, their clocks started.
        assert {(s.assigned_to_id, s.decided_at, s.touched_at) for s in taken} == {
            (olga, taken[0].decided_at, taken[0].decided_at)
        }
    assert status(app, ad) == ("pending", None, 1)
    assert status(app, changed) == ("rejected", None, 2)  # as the other left it


def test_reject_many_with_a_reason_and_an_ads_only_reason_is_refused_for_the_rest(app, client):
    olga = make_reader(app, "olga")
    first, _ = make_submission(app, "information")
    second, _ = make_submission(app, "contact")
    ad, _ = make_submission(app, "ad")
    sign_in(client, app, olga)
    data = {"bulk_action": "reject", "bulk_reason": "personal_data", "item": ticked(first, second)}
    client.post("/moderation/bulk", data=data)
    assert "2 items rejected: It contains someone's personal data." in queue(client).replace("&#39;", "'")
    assert status(app, first)[:2] == status(app, second)[:2] == ("rejected", "personal_data")
    third, _ = make_submission(app, "information")
    data = {"bulk_action": "reject", "bulk_reason": "needs_changes", "item": ticked(ad, third)}
    client.post("/moderation/bulk", data=data)
    page = queue(client)
    assert "1 item rejected" in page and f"Not rejected: #{third}. This reason is for ads only." in page
    assert status(app, third) == ("pending", None, 1)
    assert status(app, ad)[:2] == ("rejected", "needs_changes")


def test_a_bulk_action_without_a_reason_or_of_no_kind_changes_nothing(app, client):
    olga = make_reader(app, "olga")
    item, _ = make_submission(app, "information")
    sign_in(client, app, olga)
    for data in ({"bulk_action": "reject", "item": ticked(item)}, {"bulk_action": "approve", "item": ticked(item)}):
        assert client.post("/moderation/bulk", data=data).status_code == 303
        assert "Choose what to do with the ticked items" in queue(client)
    assert status(app, item) == ("pending", None, 1)


def test_one_undo_takes_the_whole_batch_back_within_the_window(app, client):
    olga = make_reader(app, "olga")
    items = [make_submission(app, "information")[0] for _ in range(3)]
    sign_in(client, app, olga)
    client.post("/moderation/spam", data={"item": ticked(*items)})
    page = queue(client)
    notice = page.split('action="/moderation/undo-batch')[0].rsplit('<div class="notice success"', 1)[1]
    assert "3 items rejected." in notice and "Undo them all" in page
    assert client.post("/moderation/undo-batch").status_code == 303
    assert "3 items are back in the queue." in queue(client)
    assert [status(app, i)[0] for i in items] == ["pending"] * 3


def test_the_batch_undo_is_gone_after_the_window(app, client):
    olga = make_reader(app, "olga")
    items = [make_submission(app, "contact")[0] for _ in range(2)]
    sign_in(client, app, olga)
    client.post("/moderation/bulk", data={"bulk_action": "take_on", "item": ticked(*items)})
    with time_machine.travel(utcnow() + timedelta(seconds=decisions.UNDO_SECONDS + 1), tick=False):
        page = queue(client)
        assert "undo-batch" not in page
        client.post("/moderation/undo-batch")
        assert "0 items are back in the queue." in queue(client)
    assert [status(app, i)[0] for i in items] == ["approved"] * 2


def test_a_batch_holds_at_most_a_hundred_items(app, client):
    olga = make_reader(app, "olga")
    item, _ = make_submission(app, "information")
    sign_in(client, app, olga)
    data = {"bulk_action": "take_on", "item": ticked(item) + [f"{n}:1" for n in range(1000, 1100)]}
    client.post("/moderation/bulk", data=data)
    assert "Tick at most 100 items at once." in queue(client)
    assert status(app, item) == ("pending", None, 1)


def test_an_ads_row_opens_it_and_approves_nothing(app, client):
    """Ads are approved one at a time, from their page, once read: their row only opens them."""
    olga = make_reader(app, "olga")
    ad, _ = make_submission(app, "ad", title="Bike")
    info, _ = make_submission(app, "information")
    sign_in(client, app, olga)
    page = queue(client)
    ad_row = page.split(f'id="row-{ad}"')[1].split("</li>")[0]
    info_row = page.split(f'id="row-{info}"')[1].split("</li>")[0]
    assert f"/moderation/{ad}/approve" not in ad_row and f'href="/moderation/{ad}"' in ad_row
    assert f'action="/moderation/{info}/approve"' in info_row
