"""Published ads as readers and their owners see them: list, filters, pages, the ad page, images, expiry,
the owner's renew and close, and readers' reports that send an ad back to the queue."""

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Event, Report, Submission, utcnow
from tests import files
from tests.helpers import approve, make_submission, make_user, public_id, sign_in, staff_opener, texts


def publish(app, approver, **fields):
    """An ad approved by a moderator the way the queue does it; returns (id, receipt code)."""
    ad_id, code = make_submission(app, "ad", **fields)
    with app.app_context():
        user = db.session.get(db.Model.registry._class_registry["User"], approver)
        approve(ad_id, 1, user)
    return ad_id, code


@pytest.fixture
def approver(app):
    """A moderator who has signed in once: she holds a key pair, so every item that arrives is sealed to her too
    (an account that never signed in holds none, and reads nothing sent before its first sign-in)."""
    user_id = make_user(app, "mira", "moderator")
    with app.app_context():
        staff_opener("mira")
    return user_id


@pytest.fixture
def moderator_client(app):
    staff = app.test_client()
    sign_in(staff, app, make_user(app, "olga", "moderator"))
    return staff


def titles(html: str) -> list[str]:
    return re.findall(r'<h[23] id="ad-[a-z2-9]{12}-title"><a href="[^"]+">([^<]+)</a>', html)


def test_only_live_ads_are_listed_newest_first(app, client, approver):
    publish(app, approver, title="Older room")
    publish(app, approver, title="Newer job")
    make_submission(app, "ad", title="Still pending")
    make_submission(app, "information", title="Never public")
    expired, _ = publish(app, approver, title="Expired sofa")
    closed, _ = publish(app, approver, title="Closed bike")
    with app.app_context():
        db.session.get(Submission, expired).expires_at = utcnow() - timedelta(minutes=1)
        db.session.get(Submission, closed).closed_at = utcnow()
        db.session.commit()
    assert titles(client.get("/ads").get_data(as_text=True)) == ["Newer job", "Older room"]


def test_filters_by_category_and_city_and_search_in_title_and_text(app, client, approver):
    publish(app, approver, title="Room near the station", category="housing", city="Vilnius")
    publish(app, approver, title="Welder", category="job_wanted", city="Warsaw", body="Welding, 10 years.")
    publish(app, approver, title="Квартира для семьи", category="housing", city="Варшава", body="Две комнаты")
    assert titles(client.get("/ads?category=housing").get_data(as_text=True)) == [
        "Квартира для семьи",
        "Room near the station",
    ]
    assert titles(client.get("/ads?city=vilnius").get_data(as_text=True)) == ["Room near the station"]
    assert titles(client.get("/ads?q=WELDING").get_data(as_text=True)) == ["Welder"]
    # Cyrillic search ignores case on SQLite as on PostgreSQL.
    assert titles(client.get("/ads?q=КВАРТИРА").get_data(as_text=True)) == ["Квартира для семьи"]
    assert titles(client.get("/ads?q=две&city=варшава").get_data(as_text=True)) == ["Квартира для семьи"]
    # LIKE wildcards are plain characters.
    assert titles(client.get("/ads?q=%25").get_data(as_text=True)) == []
    empty = client.get("/ads?q=nothing-like-this").get_data(as_text=True)
    assert "No ads match your search" in empty


def test_pages_keep_the_filters(app, client, approver, monkeypatch):
    monkeypatch.setattr("app.submissions.ads.PAGE_SIZE", 2)
    for n in range(5):
        publish(app, approver, title=f"Room {n}", category="housing")
    publish(app, approver, title="A job", category="job_wanted")
    first = client.get("/ads?category=housing").get_data(as_text=True)
    assert titles(first) == ["Room 4", "Room 3"]
    seen = titles(first)
    while link := re.search(r'<a class="button" href="(/ads\?[^"]+)">Older ads', first):
        url = link.group(1).replace("&amp;", "&")
        assert "category=housing" in url
        first = client.get(url).get_data(as_text=True)
        seen += titles(first)
    assert seen == ["Room 4", "Room 3", "Room 2", "Room 1", "Room 0"]


@pytest.mark.parametrize(
    ("few", "stretches"),
    [(500, (250, 2000)), (1, (250, 2000)), (1, (2, 3))],
    ids=["ids looked up", "all the rest", "stretch by stretch"],
)
def test_searching_pages_through_the_same_ads_however_the_matches_are_found(
    app, client, approver, monkeypatch, few, stretches
):
    """A common word is looked for a few ads at a time: pages hold exactly the matching live ads, newest
    first, even where the order of publication is not that of the ids (renewed ads, here moved back)."""
    monkeypatch.setattr("app.submissions.ads.PAGE_SIZE", 3)
    monkeypatch.setattr("app.search.FEW", few)
    monkeypatch.setattr("app.search.STRETCHES", stretches)
    for n in range(16):
        ad, _ = publish(app, approver, title=f"{'Room' if n % 3 else 'Job'} {n}", category="housing")
        if n % 4 == 0:
            with app.app_context():
                db.session.get(Submission, ad).published_at -= timedelta(days=n)
                db.session.commit()
    make_submission(app, "ad", title="Room pending")
    with app.app_context():
        live = db.session.scalars(
            select(Submission)
            .where(Submission.status == "approved")
            .order_by(Submission.published_at.desc(), Submission.id.desc())
        ).all()
        expected = [ad.public_copy.title for ad in live if ad.public_copy.title.startswith("Room")]
        assert [ad.id for ad in live] != sorted((ad.id for ad in live), reverse=True)  # the case tested
    html = client.get("/ads?q=room").get_data(as_text=True)
    seen = titles(html)
    while link := re.search(r'<a class="button" href="(/ads\?[^"]+)">Older ads', html):
        html = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
        seen += titles(html)
    assert seen == expected


def test_bad_filter_values_never_fail(client):
    for query in ("category=nope", "after=garbage", "after=2026-01-01T00:00:00_x", "q=" + "x" * 500, "city=%00"):
        response = client.get(f"/ads?{query}")
        assert response.status_code == 200, query


def test_the_ad_page_shows_what_readers_need(app, client, approver):
    ad_id, _ = publish(
        app,
        approver,
        title="Room for a family",
        city="Vilnius",
        body="Two beds.\nNear a park.",
        show_contact=True,
        telegram="host_anna",
    )
    response = client.get(f"/ads/{public_id(app, ad_id)}")
    assert response.status_code == 301 and response.headers["Location"].endswith(
        f"/ads/{public_id(app, ad_id)}-room-for-a-family"
    )
    html = client.get(f"/ads/{public_id(app, ad_id)}-room-for-a-family").get_data(as_text=True)
    assert "Room for a family" in html and "Vilnius" in html and "Two beds." in html and "Housing" in html
    assert 'href="https://t.me/host_anna"' in html and "Write on Telegram" in html
    assert "Report this ad" in html


def test_no_telegram_button_unless_the_author_agreed(app, client, approver):
    ad_id, _ = publish(app, approver, title="Quiet ad", show_contact=False, telegram="secret_person")
    html = client.get(f"/ads/{public_id(app, ad_id)}-quiet-ad").get_data(as_text=True)
    assert "secret_person" not in html and "t.me" not in html


def test_unpublished_is_404_and_expired_or_closed_is_410(app, client, approver):
    pending, _ = make_submission(app, "ad", title="Pending")
    info, _ = make_submission(app, "information", status="approved")
    rejected, _ = make_submission(app, "ad", status="rejected")
    expired, _ = publish(app, approver, title="Expired")
    closed, _ = publish(app, approver, title="Closed")
    with app.app_context():
        db.session.get(Submission, expired).expires_at = utcnow() - timedelta(seconds=1)
        db.session.get(Submission, closed).closed_at = utcnow()
        db.session.commit()
    for ad_id in (pending, info, rejected, 999):
        assert client.get(f"/ads/{public_id(app, ad_id)}-x").status_code == 404
    for ad_id in (expired, closed):
        response = client.get(f"/ads/{public_id(app, ad_id)}-x")
        assert response.status_code == 410
        assert "no longer" in response.get_data(as_text=True)


def submit_ad_with_photos(client, n=2) -> int:
    data = {
        "telegram": "photo_owner",
        "title": "Bike for sale",
        "category": "goods",
        "city": "Grodno",
        "body": "A good bike.",
        "attachments": [(io.BytesIO(files.jpeg(size=(64 + i, 48))), f"bike{i}.jpg") for i in range(n)]
        + [(io.BytesIO(files.pdf()), "papers.pdf")],
    }
    assert client.post("/submit/ad", data=data, content_type="multipart/form-data").status_code == 200


def test_only_images_a_moderator_chose_are_public_while_the_ad_is_live(app, client, approver):
    submit_ad_with_photos(client)
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        shown, hidden, pdf = (a.id for a in ad.attachments)
        ad_id = ad.id
        user = db.session.get(db.Model.registry._class_registry["User"], approver)
        approve(ad.id, ad.version, user, public_images=[shown, pdf])
    html = client.get(f"/ads/{public_id(app, ad_id)}-bike-for-sale").get_data(as_text=True)
    assert (
        f"/ads/images/{public_id(app, shown, Attachment)}/thumb" in html
        and f"/ads/images/{public_id(app, hidden, Attachment)}" not in html
    )
    listing = client.get("/ads").get_data(as_text=True)
    assert (
        f"/ads/images/{public_id(app, shown, Attachment)}/thumb" in listing
        and f"/ads/images/{public_id(app, hidden, Attachment)}" not in listing
    )
    image = client.get(f"/ads/images/{public_id(app, shown, Attachment)}")
    assert image.status_code == 200 and image.mimetype == "image/jpeg" and image.data[:3] == b"\xff\xd8\xff"
    assert client.get(f"/ads/images/{public_id(app, shown, Attachment)}/thumb").status_code == 200
    # Not chosen, not an image, or a staff-only file: not found.
    for attachment_id in (hidden, pdf, 999):
        assert client.get(f"/ads/images/{public_id(app, attachment_id, Attachment)}").status_code == 404
    with app.app_context():
        assert db.session.get(Attachment, pdf).public is False
        db.session.get(Submission, ad_id).closed_at = utcnow()
        db.session.commit()
    assert client.get(f"/ads/images/{public_id(app, shown, Attachment)}").status_code == 404


def test_readers_images_are_kept_by_caches_no_longer_than_the_ad_page(app, client, approver):
    """A photo follows its ad's page: no shared cache keeps either, and a browser asks again before each use, so a
    withdrawn ad's photo is gone from every cache as soon as its page is (it was public for five minutes)."""
    submit_ad_with_photos(client, n=1)
    with app.app_context():
        ad = db.session.scalars(select(Submission)).one()
        photo, ad_id = ad.attachments[0].id, ad.id
        approve(
            ad.id,
            ad.version,
            db.session.get(db.Model.registry._class_registry["User"], approver),
            public_images=[photo],
        )
    page = client.get(f"/ads/{public_id(app, ad_id)}-bike-for-sale")
    image = f"/ads/images/{public_id(app, photo, Attachment)}"
    for response in (page, client.get(image), client.get(image + "/thumb")):
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, no-cache", response.headers["Cache-Control"]
        assert "Expires" not in response.headers


def test_the_owner_renews_and_closes_with_the_receipt(app, client, approver):
    ad_id, code = publish(app, approver, title="Sofa")
    with app.app_context():
        db.session.get(Submission, ad_id).expires_at = utcnow() - timedelta(days=1)
        db.session.commit()
    html = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "expired on" in html and "Renew for 30 days" in html
    renewed = client.post("/status/renew", data={"code": code})
    assert renewed.status_code == 200 and "stays on the site until" in renewed.get_data(as_text=True)
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        assert ad.expires_at > utcnow() + timedelta(days=29)
    assert client.get(f"/ads/{public_id(app, ad_id)}-sofa").status_code == 200

    closed = client.post("/status/close", data={"code": code})
    assert closed.status_code == 200 and "no longer shown" in closed.get_data(as_text=True)
    assert client.get(f"/ads/{public_id(app, ad_id)}-sofa").status_code == 410
    # Closed is final: renewing does not bring it back.
    assert client.post("/status/renew", data={"code": code}).status_code == 409
    assert client.get(f"/ads/{public_id(app, ad_id)}-sofa").status_code == 410
    with app.app_context():
        actions = db.session.scalars(select(Event.action).where(Event.submission_id == ad_id)).all()
        assert actions[-2:] == ["renewed", "closed"]


def test_owner_actions_need_the_right_code_and_an_approved_ad(app, client, approver):
    pending, code = make_submission(app, "ad")
    wrong = client.post("/status/renew", data={"code": "0000 0000 0000 0000"})
    assert wrong.status_code == 422 and "No submission matches this code" in wrong.get_data(as_text=True)
    assert client.post("/status/close", data={"code": code}).status_code == 409
    with app.app_context():
        assert db.session.get(Submission, pending).closed_at is None


def report(client, ad_id, reason="scam", note=""):
    return client.post(f"/ads/{public_id(client.application, ad_id)}/report", data={"reason": reason, "note": note})


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "REPORT_THRESHOLD": 2}])
def test_reports_send_an_ad_back_to_the_queue_at_the_threshold(app, client, approver):
    ad_id, _ = publish(app, approver, title="Too good to be true")
    first = report(client, ad_id, note="Asks for a deposit")
    assert first.status_code == 303
    assert client.get(f"/ads/{public_id(app, ad_id)}-too-good-to-be-true").status_code == 200
    # The same reader again on the same day does not count twice.
    again = report(client, ad_id)
    assert again.status_code == 429 and "already reported" in again.get_data(as_text=True)
    other_reader = app.test_client()
    other_reader.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert report(other_reader, ad_id, reason="spam").status_code == 303
    assert client.get(f"/ads/{public_id(app, ad_id)}-too-good-to-be-true").status_code == 404
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        assert ad.status == "pending" and ad.published_at is None
        assert [r.reason for r in ad.reports] == ["scam", "spam"]
        actions = db.session.scalars(select(Event.action).where(Event.submission_id == ad_id)).all()
        assert actions[-3:] == ["reported", "reported", "returned"]


def test_a_report_needs_a_reason_and_keeps_the_note(app, client, approver):
    ad_id, _ = publish(app, approver, title="Ad")
    response = report(client, ad_id, reason="", note="My words")
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Choose what is wrong with the ad." in html and "My words" in html
    assert report(client, 999).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(Report)).all() == []


def test_moderators_see_the_reports_and_reapproving_starts_the_count_again(app, client, approver):
    app.config["REPORT_THRESHOLD"] = 1
    ad_id, _ = publish(app, approver, title="Reported")
    report(client, ad_id, reason="offensive", note="Rude words")
    with app.app_context():
        user = db.session.get(db.Model.registry._class_registry["User"], approver)
        ad = db.session.get(Submission, ad_id)
        approve(ad_id, ad.version, user)
        assert db.session.get(Submission, ad_id).is_live_ad(utcnow())
    from tests.helpers import sign_in

    staff = app.test_client()
    sign_in(staff, app, approver)
    html = staff.get(f"/moderation/{ad_id}").get_data(as_text=True)
    assert "Reports from readers" in html and "Rude words" in html and "Offensive or hateful" in html


def test_htmx_filtering_swaps_only_the_results(app, client, approver):
    publish(app, approver, title="Room", category="housing")
    publish(app, approver, title="Job", category="job_wanted")
    response = client.get("/ads?category=housing", headers={"HX-Request": "true", "HX-Target": "ad-results"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    # Every request header that changes what is rendered (htmx's, and the language's) is named to caches.
    assert {"HX-Request", "HX-Boosted", "HX-Target", "Cookie", "Accept-Language"} <= set(response.vary)
    assert html.lstrip().startswith('<div id="ad-results"') and "<html" not in html
    assert titles(html) == ["Room"]


def test_readers_see_random_public_ids_never_row_ids(app, client, approver):
    """Row ids would tell how many submissions arrive: ads, images, cursors and feed entries use public ids."""
    for n in range(3):
        make_submission(app, "information", body=f"Not public {n}")
    submit_ad_with_photos(client, n=1)
    with app.app_context():
        ad = db.session.scalars(select(Submission).where(Submission.kind == "ad")).one()
        photo = ad.attachments[0]
        approve(
            ad.id,
            ad.version,
            db.session.get(db.Model.registry._class_registry["User"], approver),
            public_images=[photo.id],
        )
        ad_row, photo_row, ad_public, photo_public = ad.id, photo.id, ad.public_id, photo.public_id
    publish(app, approver, title="Second ad")
    assert re.fullmatch(r"[a-z2-9]{12}", ad_public) and ad_public != public_id(app, ad_row + 1)
    pages = [
        client.get(url).get_data(as_text=True)
        for url in ("/ads", f"/ads/{ad_public}-bike-for-sale", "/ads/feed.atom", "/")
    ]
    for html in pages:
        assert not re.search(rf"/ads/(images/)?({ad_row}|{photo_row})\b", html)
        assert f'id="ad-{ad_row}-' not in html
    assert f"/ads/images/{photo_public}/thumb" in pages[0] and f"/ads/{ad_public}" in pages[2]
    assert client.get(f"/ads/{ad_row}-bike-for-sale").status_code == 404
    assert client.get(f"/ads/images/{photo_row}").status_code == 404


def test_the_next_page_cursor_carries_a_public_id(app, client, approver):
    from app.submissions import ads

    ids = [publish(app, approver, title=f"Ad number {n}")[0] for n in range(3)]
    with app.app_context():
        first, cursor = ads.page(ads.Filters(), size=2)
        assert cursor.endswith("_" + first[-1].public_id)
        rest, _ = ads.page(ads.Filters(), after=cursor, size=2)
        assert [a.id for a in first + rest] == ids[::-1]


def owner_edit(client, code, **changes):
    data = {"code": code, "title": "Room in Vilnius", "category": "housing", "city": "Vilnius", "body": "A room."}
    return client.post("/status/edit", data=data | changes)


def test_an_ad_sent_back_for_changes_returns_to_the_queue_once_its_owner_edits_it(app, client, moderator_client):
    ad_id, code = make_submission(app, "ad", title="Room", body="A room.")
    reason = "needs_changes"
    page = moderator_client.get(f"/moderation/{ad_id}").get_data(as_text=True)
    assert f'value="{reason}"' in page
    response = moderator_client.post(
        f"/moderation/{ad_id}/reject", data={"version": 1, "reason": reason, "note": "Say which district."}
    )
    assert response.status_code == 303
    status = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Say which district." in status and 'action="/status/edit"' in status and 'value="Room"' in status
    edited = owner_edit(client, code, title="Room in Vilnius, Antakalnis", body="A room in Antakalnis.")
    assert edited.status_code == 200 and "A moderator will review the ad again" in edited.get_data(as_text=True)
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        assert (ad.status, ad.reject_reason) == ("pending", None)
    assert texts(app, ad_id).title == "Room in Vilnius, Antakalnis"
    with app.app_context():
        actions = db.session.scalars(select(Event).where(Event.submission_id == ad_id)).all()
        assert (actions[-1].action, actions[-1].detail) == ("resubmitted", "changed: body, title")
    # The moderator sees what changed, word by word.
    item = moderator_client.get(f"/moderation/{ad_id}").get_data(as_text=True)
    assert "The owner changed the ad" in item
    assert "<del>room.</del> <ins>room in Antakalnis.</ins>" in item
    # Sent back again, it is pending: no second edit until a moderator decides.
    assert owner_edit(client, code, body="Again.").status_code == 409


def test_other_reasons_and_other_kinds_cannot_be_edited_by_their_owner(app, client, moderator_client):
    spam, spam_code = make_submission(app, "ad", status="rejected", reject_reason="spam")
    info, info_code = make_submission(app, "information")
    assert 'value="needs_changes"' not in moderator_client.get(f"/moderation/{info}").get_data(as_text=True)
    refused = moderator_client.post(f"/moderation/{info}/reject", data={"version": 1, "reason": "needs_changes"})
    assert refused.status_code == 422
    assert 'action="/status/edit"' not in client.post("/status", data={"code": spam_code}).get_data(as_text=True)
    assert owner_edit(client, spam_code).status_code == 409
    assert owner_edit(client, info_code).status_code == 409
    with app.app_context():
        assert db.session.get(Submission, spam).status == "rejected"
        assert db.session.get(Submission, info).status == "pending"


def test_an_owner_edit_takes_a_live_ad_off_the_site_until_approved_again(app, client, approver, moderator_client):
    ad_id, code = publish(app, approver, title="Room", city="Vilnius", body="A room.")
    url = f"/ads/{public_id(app, ad_id)}-room"
    assert client.get(url).status_code == 200
    status = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Change the ad" in status and "leaves the site until a moderator has approved" in status
    invalid = owner_edit(client, code, title="", body="A cheaper room.")
    assert invalid.status_code == 422 and "A cheaper room." in invalid.get_data(as_text=True)
    assert client.get(url).status_code == 200
    assert owner_edit(client, code, body="A cheaper room.", city="Vilnius").status_code == 200
    assert client.get(url).status_code == 404
    assert "A cheaper room." not in client.get("/ads").get_data(as_text=True)
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        assert ad.status == "pending" and ad.published_at is None
    page = moderator_client.get(f"/moderation/{ad_id}").get_data(as_text=True)
    seen = int(re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1))
    assert moderator_client.post(f"/moderation/{ad_id}/approve", data={"version": seen}).status_code == 303
    assert "A cheaper room." in client.get(url, follow_redirects=True).get_data(as_text=True)
    # Approved, the edit is settled: the text from before it is kept no longer, in clear or sealed.
    assert "The owner changed the ad" not in moderator_client.get(f"/moderation/{ad_id}").get_data(as_text=True)
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        assert ad.before_edit is None and ad.sealed_before_edit is None


def test_a_moderator_acting_on_the_text_before_an_owner_edit_gets_a_409(app, client, moderator_client):
    ad_id, code = make_submission(app, "ad", status="rejected", reject_reason="needs_changes")
    owner_edit(client, code, body="New text.")  # pending again, version 2
    response = moderator_client.post(
        f"/moderation/{ad_id}/edit", data={"version": 1, "title": "X", "body": "Y", "category": "housing"}
    )
    assert response.status_code == 409
    assert "changed the ad and sent it again" in response.get_data(as_text=True)


@pytest.mark.parametrize(("days_left", "warned"), [(2, True), (10, False)])
def test_status_warns_when_an_ad_expires_within_three_days(app, client, approver, days_left, warned):
    ad_id, code = publish(app, approver, title="Sofa")
    with app.app_context():
        db.session.get(Submission, ad_id).expires_at = utcnow() + timedelta(days=days_left, hours=1)
        db.session.commit()
    html = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert ("Your ad expires in less than 3 days" in html) is warned
    assert "Renew for 30 days" in html
