"""The queue as a moderator uses it: tabs, filters, pages, the side panel, actions with and without htmx."""

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app import cursors
from app.extensions import db
from app.models import Attachment, Event, Submission
from app.submissions import queue as staff_queue
from tests import files
from tests.helpers import hx, make_submission, make_user, sign_in, texts


def row_ids(html):
    return [int(i) for i in re.findall(r'<li id="row-(\d+)"', html)]


def age(app, submission_id, days):
    with app.app_context():
        item = db.session.get(Submission, submission_id)
        item.created_at -= timedelta(days=days)
        db.session.commit()


def test_pending_items_oldest_first_with_what_a_row_shows(app, moderator):
    newer, _ = make_submission(app, "ad", title="Newer ad", telegram="seller_one")
    older, _ = make_submission(app, "information", title="Older tip")
    age(app, older, 2)
    with app.app_context():
        db.session.add(
            Attachment(
                submission_id=older,
                storage_key="k1",
                original_name="a.jpg",
                content_type="image/jpeg",
                size=10,
                sha256="0" * 64,
            )
        )
        db.session.commit()
    html = moderator.get("/moderation").get_data(as_text=True)
    assert row_ids(html) == [older, newer]
    row = html.split(f'id="row-{older}"')[1].split("</li>")[0]
    assert "Information" in row and "Older tip" in row and "1 file" in row
    assert "2 days ago" in row
    assert "anna_k1" not in html and "seller_one" not in html  # no username in the list (issue 28)


def test_decided_items_leave_the_pending_list(app, moderator):
    kept, _ = make_submission(app)
    make_submission(app, status="approved")
    make_submission(app, status="rejected")
    assert row_ids(moderator.get("/moderation").get_data(as_text=True)) == [kept]
    assert len(row_ids(moderator.get("/moderation?status=approved").get_data(as_text=True))) == 1


def test_tabs_show_live_counts_per_kind(app, moderator):
    for kind in ("information", "ad", "ad", "contact"):
        make_submission(app, kind)
    html = moderator.get("/moderation?kind=ad").get_data(as_text=True)
    assert len(row_ids(html)) == 2
    tabs = html.split('id="queue-tabs"')[1].split("</nav>")[0]
    assert 'class="count"' not in tabs  # the list does not wait for the counts...
    assert 'hx-trigger="load, queue-changed from:body"' in tabs  # ...the tabs ask for them once shown
    fragment = moderator.get("/moderation/counts?kind=ad", headers=hx("queue-tabs")).get_data(as_text=True)
    assert fragment.lstrip().startswith("<nav") and "<html" not in fragment
    counts = dict(re.findall(r'id="count-(\w+)">(\d+)<', fragment))
    assert counts == {"all": "4", "information": "1", "contact": "1", "ad": "2"}
    assert 'hx-trigger="queue-changed from:body"' in fragment  # filled in: no second load


def titles_in(html):
    return re.findall(r'class="title-text">([^<]+)<', html)


def test_while_searching_the_tabs_show_no_numbers(app, moderator):
    """A search opens what it walks (nothing is indexed): counting its matches would mean opening every item."""
    make_submission(app, "ad", title="Bicycle for sale")
    make_submission(app, "ad", title="Bicycle repairs")
    make_submission(app, "information", title="Bicycle seen near the colony")
    make_submission(app, "contact", title="Lawyer")
    html = moderator.get("/moderation?q=bicycle").get_data(as_text=True)
    assert len(row_ids(html)) == 3
    tabs = html.split('id="queue-tabs"')[1].split("</nav>")[0]
    assert "/moderation/counts?q=bicycle" in tabs.split(">")[0]
    assert 'id="count-' not in tabs
    assert 'href="/moderation?q=bicycle&amp;kind=ad"' in tabs  # a tab keeps the search
    fragment = moderator.get("/moderation/counts?q=bicycle", headers=hx("queue-tabs")).get_data(as_text=True)
    assert fragment.lstrip().startswith("<nav") and 'id="count-' not in fragment
    assert 'hx-trigger="queue-changed from:body"' in fragment  # and not fetched again on load
    counted = moderator.get("/moderation/counts", headers=hx("queue-tabs")).get_data(as_text=True)
    assert re.search(r'id="count-all">4<', counted)  # without a search the tabs count everything


def test_search_matches_the_title_text_and_city_never_the_handle(app, moderator):
    wanted = [
        make_submission(app, "ad", title="Bicycle for sale")[0],
        make_submission(app, "information", title="Seen", body="A BICYCLE near the colony.")[0],
        make_submission(app, "ad", title="Room", city="Bicyclewood")[0],  # the start of a word
    ]
    make_submission(app, "ad", title="Lawyer", telegram="bicycle_man")  # the handle is never searched
    make_submission(app, "ad", title="Bicycle sold", status="approved")  # not in the pending list
    make_submission(app, "information", title="Unicycle")  # a word's middle is no match
    assert row_ids(moderator.get("/moderation?q=bicy").get_data(as_text=True)) == wanted
    assert row_ids(moderator.get("/moderation?q=bicycle&kind=information").get_data(as_text=True)) == wanted[1:2]
    assert row_ids(moderator.get("/moderation?q=bicycle+colony").get_data(as_text=True)) == wanted[1:2]  # every word
    assert row_ids(moderator.get("/moderation?q=bicycle_man").get_data(as_text=True)) == []
    assert len(row_ids(moderator.get("/moderation?q=bicycle&status=approved").get_data(as_text=True))) == 1
    cafe, _ = make_submission(app, "ad", title="Café Минск")
    assert row_ids(moderator.get("/moderation?q=cafe+минск").get_data(as_text=True)) == [cafe]  # any case, accents


@pytest.mark.parametrize("search_rows", [2000, 5], ids=["in one go", "stopping and searching further"])
def test_a_search_pages_through_the_matches_in_queue_order(app, moderator, monkeypatch, search_rows):
    """Pages hold exactly the matches, in the queue's order, even where that order is not the order of the ids
    (items backdated here); a search that stops after SEARCH_ROWS goes on from where it stopped."""
    from tests.helpers import staff_opener

    monkeypatch.setattr("app.submissions.queue.SEARCH_ROWS", search_rows)
    monkeypatch.setattr("app.submissions.queue.SEARCH_SECONDS", 60)  # (CPU time would make the stops vary)
    monkeypatch.setattr("app.submissions.queue.SEARCH_BATCH", 3)  # several batches per request
    for n in range(24):
        title = "Bicycle" if n % 3 else "Lawyer"
        status = "approved" if n % 5 == 0 else "pending"
        ident, _ = make_submission(app, "ad" if n % 2 else "information", title=f"{title} {n}", status=status)
        if n % 4 == 0:
            age(app, ident, n)  # arrived earlier than items with lower ids
    with app.app_context():
        opener = staff_opener()
        everything = db.session.scalars(select(Submission).order_by(Submission.created_at, Submission.id)).all()
        pending = [s for s in everything if s.status == "pending"]
        words = {s.id: opener.texts(s) for s in pending}
        expected = [s.id for s in pending if words[s.id].title.startswith("Bicycle")]
        ads = [s.id for s in pending if words[s.id].title.startswith("Bicycle") and s.kind == "ad"]
        assert len(expected) > 8 and expected != sorted(expected)  # the case this test is about

        def pages(filters):
            seen, cursor = [], None
            while True:
                found = staff_queue.page(filters, opener, cursor, size=4)
                seen.append(found)
                cursor = found.cursor
                if cursor is None:
                    return seen

        found = pages(staff_queue.Filters(q="bicycle"))
        assert [row.submission.id for page in found for row in page.rows] == expected
        assert all(row.texts.title.startswith("Bicycle") for page in found for row in page.rows)
        if search_rows > len(pending):
            assert all(len(page.rows) == 4 and page.searched_to is None for page in found[:-1])
        else:
            stopped = [page for page in found if page.searched_to is not None]
            assert stopped and all(page.searched == search_rows for page in stopped)
            for page in stopped:  # how far it searched: the last item it opened, where the next request begins
                last = db.session.get(Submission, cursors.decode(page.cursor)[1])
                assert page.searched_to == last.created_at
        assert found[-1].searched_to is None  # the end of the queue
        assert [
            row.submission.id for page in pages(staff_queue.Filters(q="bicy", kind="ad")) for row in page.rows
        ] == ads


def test_a_search_stops_after_a_stretch_and_says_how_far_it_went(app, moderator, monkeypatch):
    monkeypatch.setattr("app.submissions.queue.SEARCH_ROWS", 3)
    first, _ = make_submission(app, "ad", title="Bicycle one")
    make_submission(app, "ad", title="Lawyer")
    make_submission(app, "ad", title="Sofa")
    make_submission(app, "ad", title="Table")
    last, _ = make_submission(app, "ad", title="Bicycle two")
    html = moderator.get("/moderation?q=bicycle").get_data(as_text=True)
    assert row_ids(html) == [first]
    assert "Searched the items sent up to" in html and "Search further" in html
    further = re.search(r'<a class="button secondary small" href="([^"]+)"\s+hx-get', html).group(1)
    further = further.replace("&amp;", "&")
    assert "q=bicycle" in further and "after=" in further
    fragment = moderator.get(further, headers=hx("more")).get_data(as_text=True)  # from the fourth item on
    assert "<html" not in fragment and row_ids(fragment) == [last]
    assert "Search further" not in fragment and "Load more" not in fragment  # the end of the queue
    assert row_ids(moderator.get(further).get_data(as_text=True)) == [last]  # the same without JavaScript
    nothing = moderator.get("/moderation?q=chair").get_data(as_text=True)
    assert row_ids(nothing) == [] and "Search further" in nothing  # no match yet, but the queue goes on


def test_items_locked_to_a_moderator_are_not_searched_and_said_so(app, moderator):
    """An item sealed before a moderator's key existed opens only after a grant: a search cannot look into it."""
    make_submission(app, "ad", title="Bicycle before")  # sealed to olga's epoch alone
    ivan = app.test_client()
    sign_in(ivan, app, make_user(app, "ivan"))  # a new key pair: a new epoch, sealed to olga and ivan
    later, _ = make_submission(app, "ad", title="Bicycle after")
    html = ivan.get("/moderation?q=bicycle").get_data(as_text=True)
    assert row_ids(html) == [later]
    assert "1 item is locked to you and was not searched." in html
    assert len(row_ids(moderator.get("/moderation?q=bicycle").get_data(as_text=True))) == 2


def test_filters_and_search(app, moderator):
    with_file, _ = make_submission(app, "ad", title="Bicycle", category="goods")
    make_submission(app, "ad", title="Flat", category="housing", body="Two rooms, 100% furnished")
    old, _ = make_submission(app, title="Old story")
    age(app, old, 10)
    with app.app_context():
        db.session.add(
            Attachment(
                submission_id=with_file,
                storage_key="k",
                original_name="b.png",
                content_type="image/png",
                size=1,
                sha256="1" * 64,
            )
        )
        db.session.commit()

    def titles(query):
        return re.findall(r'class="title-text">([^<]+)<', moderator.get("/moderation?" + query).get_data(as_text=True))

    assert titles("category=goods") == ["Bicycle"]
    assert titles("files=yes") == ["Bicycle"]
    assert sorted(titles("files=no")) == ["Flat", "Old story"]
    assert titles("q=bicy") == ["Bicycle"]
    assert titles("q=100%25") == ["Flat"]  # % is searched for, not a wildcard
    assert titles("q=rooms") == ["Flat"]
    until = (db_now(app) - timedelta(days=5)).date().isoformat()
    assert titles(f"until={until}") == ["Old story"]
    assert "Old story" not in titles(f"since={(db_now(app) - timedelta(days=1)).date().isoformat()}")
    assert moderator.get("/moderation?since=not-a-date&status=nonsense").status_code == 200


def db_now(app):
    from app.models import utcnow

    return utcnow()


def test_keyset_pages_with_load_more(app, moderator):
    ids = [make_submission(app)[0] for _ in range(staff_queue.PAGE_SIZE + 5)]
    page = moderator.get("/moderation").get_data(as_text=True)
    assert row_ids(page) == ids[: staff_queue.PAGE_SIZE]
    more = re.search(r'hx-get="([^"]+after=[^"]+)"', page).group(1).replace("&amp;", "&")
    fragment = moderator.get(more, headers=hx("more")).get_data(as_text=True)
    assert "<html" not in fragment
    assert row_ids(fragment) == ids[staff_queue.PAGE_SIZE :]
    assert 'id="more"' not in fragment
    # Without JavaScript the same link loads the next page in full.
    assert row_ids(moderator.get(more).get_data(as_text=True)) == ids[staff_queue.PAGE_SIZE :]


def test_new_items_arrive_as_a_bar_not_as_rows(app, moderator):
    first, _ = make_submission(app)
    assert "new item" not in moderator.get(f"/moderation/new?last={first}", headers=hx()).get_data(as_text=True)
    make_submission(app)
    make_submission(app, "ad")
    bar = moderator.get(f"/moderation/new?last={first}", headers=hx()).get_data(as_text=True)
    assert "2 new items — show" in bar
    assert "1 new item — show" in moderator.get(f"/moderation/new?last={first}&kind=ad", headers=hx()).get_data(
        as_text=True
    )


def test_item_opens_in_the_panel_and_as_a_page(app, moderator):
    item_id, _ = make_submission(app, "ad", title="Sofa")
    panel = moderator.get(f"/moderation/{item_id}", headers=hx("panel"))
    html = panel.get_data(as_text=True)
    assert "<html" not in html and "Sofa" in html and "Some text about a case." in html
    assert f'hx-post="/moderation/{item_id}/claim" hx-trigger="load"' in html
    assert "sent it" in html  # the history
    assert panel.headers["Cache-Control"] == "no-store"
    page = moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert "<html" in page and "hx-post" not in page.split("<main")[1]  # plain forms without JavaScript
    assert moderator.get("/moderation/9999").status_code == 404


def test_htmx_approve_returns_the_row_with_undo_and_triggers_counts(app, moderator):
    item_id, _ = make_submission(app, "ad", title="Lamp")
    response = moderator.post(f"/moderation/{item_id}/approve", data={"version": 1}, headers=hx(f"row-{item_id}"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["HX-Trigger"] == "queue-changed"
    assert html.lstrip().startswith(f'<li id="row-{item_id}"') and "Approved: Lamp" in html
    assert f'action="/moderation/{item_id}/undo"' in html
    undone = moderator.post(f"/moderation/{item_id}/undo", data={"version": 2}, headers=hx(f"row-{item_id}"))
    assert undone.status_code == 200 and 'class="row-actions"' in undone.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Submission, item_id).status == "pending"


def test_stale_action_answers_409_saying_who_did_what(app, moderator):
    item_id, _ = make_submission(app)
    other = app.test_client()
    sign_in(other, app, make_user(app, "ivan"))
    assert other.post(f"/moderation/{item_id}/reject", data={"version": 1, "reason": "spam"}).status_code == 303
    response = moderator.post(f"/moderation/{item_id}/approve", data={"version": 1}, headers=hx(f"row-{item_id}"))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "ivan rejected it at" in html and f'id="row-{item_id}"' in html
    page = moderator.post(f"/moderation/{item_id}/approve", data={"version": 1})
    assert page.status_code == 409 and "ivan rejected it" in page.get_data(as_text=True)


def test_claimed_items_show_who_has_them(app, moderator):
    item_id, _ = make_submission(app)
    other = app.test_client()
    sign_in(other, app, make_user(app, "ivan"))
    assert "You are reviewing" in other.post(f"/moderation/{item_id}/claim", headers=hx()).get_data(as_text=True)
    assert "with ivan" in moderator.get("/moderation").get_data(as_text=True)
    claim = moderator.post(f"/moderation/{item_id}/claim", headers=hx())
    assert claim.status_code == 409 and "ivan is reviewing this item until" in claim.get_data(as_text=True)


def test_reject_needs_a_reason_and_shows_the_error_in_the_panel(app, moderator):
    item_id, _ = make_submission(app)
    response = moderator.post(
        f"/moderation/{item_id}/reject", data={"version": 1, "reason": "", "note": "kept"}, headers=hx(f"row-{item_id}")
    )
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#panel"
    html = response.get_data(as_text=True)
    assert "Choose a reason." in html and "kept" in html


def test_without_javascript_actions_redirect_and_offer_undo(app, moderator):
    item_id, _ = make_submission(app)
    response = moderator.post(
        f"/moderation/{item_id}/reject", data={"version": 1, "reason": "off_topic", "note": "Not ours."}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/moderation"
    page = moderator.get("/moderation").get_data(as_text=True)
    assert f"Item #{item_id}: rejected it." in page and f'action="/moderation/{item_id}/undo"' in page
    moderator.post(f"/moderation/{item_id}/undo", data={"version": 2})
    assert row_ids(moderator.get("/moderation").get_data(as_text=True)) == [item_id]


def test_editing_an_ad_is_recorded_with_the_changed_fields(app, moderator):
    item_id, _ = make_submission(app, "ad", title="Sofa", category="goods", city="Minsk", body="Old text")
    response = moderator.post(
        f"/moderation/{item_id}/edit",
        headers=hx("panel"),
        data={"version": 1, "title": "Sofa, free", "category": "goods", "city": "Minsk", "body": "New text"},
    )
    assert response.status_code == 200 and "Sofa, free" in response.get_data(as_text=True)
    bad = moderator.post(
        f"/moderation/{item_id}/edit",
        headers=hx("panel"),
        data={"version": 2, "title": "", "category": "goods", "city": "", "body": "x"},
    )
    assert bad.status_code == 422 and "An ad needs a title." in bad.get_data(as_text=True)
    edited = texts(app, item_id)
    assert (edited.title, edited.body) == ("Sofa, free", "New text")
    with app.app_context():
        assert db.session.get(Submission, item_id).version == 2
        event = db.session.scalars(select(Event).where(Event.action == "edited")).one()
        assert event.detail == "changed: body, title"


def test_bulk_reject_as_spam(app, moderator):
    spam = [make_submission(app)[0] for _ in range(3)]
    keep, _ = make_submission(app)
    response = moderator.post("/moderation/spam", data={"item": [f"{i}:1" for i in spam] + ["junk", "5:x"]})
    assert response.status_code == 303
    assert "3 items rejected: Spam or advertising unrelated to our work." in moderator.get("/moderation").get_data(
        as_text=True
    )
    assert row_ids(moderator.get("/moderation").get_data(as_text=True)) == [keep]


def test_queue_pages_vary_on_htmx_and_are_never_cached(app, moderator):
    response = moderator.get("/moderation")
    assert response.headers["Cache-Control"] == "no-store"
    assert "HX-Request" in response.headers.get("Vary", "")


def test_an_error_during_an_htmx_request_is_a_short_fragment(app, moderator):
    response = moderator.get("/moderation/424242", headers=hx("panel"))
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<html" not in html and "Page not found" in html


def test_a_row_restored_by_undo_still_counts_its_files(app, moderator, client):
    response = client.post(
        "/submit/information",
        content_type="multipart/form-data",
        data={
            "telegram": "anna_k1",
            "body": "Two photos.",
            "attachments": [(io.BytesIO(files.jpeg()), "a.jpg"), (io.BytesIO(files.png()), "b.png")],
        },
    )
    assert response.status_code == 200
    moderator.post("/moderation/1/approve", data={"version": 1}, headers=hx("row-1"))
    undone = moderator.post("/moderation/1/undo", data={"version": 2}, headers=hx("row-1")).get_data(as_text=True)
    assert "2 files" in undone


def test_closing_the_panel_gives_the_item_back_at_once(app, moderator):
    item_id, _ = make_submission(app)
    ivan = app.test_client()
    sign_in(ivan, app, make_user(app, "ivan"))
    assert moderator.post(f"/moderation/{item_id}/claim", headers=hx()).status_code == 200
    assert ivan.post(f"/moderation/{item_id}/claim", headers=hx()).status_code == 409
    assert f'data-release="/moderation/{item_id}/release"' in moderator.get(
        f"/moderation/{item_id}", headers=hx("panel")
    ).get_data(as_text=True)
    assert moderator.post(f"/moderation/{item_id}/release", headers=hx()).status_code == 204
    assert ivan.post(f"/moderation/{item_id}/claim", headers=hx()).status_code == 200
    assert moderator.post(f"/moderation/{item_id}/release").status_code == 303  # not Olga's any more: nothing
    with app.app_context():
        assert db.session.get(Submission, item_id).claimed_by.username == "ivan"
