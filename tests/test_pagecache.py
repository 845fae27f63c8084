"""The cache of public pages: hits cost one query, each visitor gets their own CSRF token, and every change
readers should see (publish, edit, close, renew, reports, expiry, articles) shows at once."""

import re
import time
from datetime import timedelta

import pytest
from sqlalchemy import event

from app import articles
from app.extensions import db
from app.models import Article, Submission, User, utcnow
from app.submissions import decisions as service
from tests.helpers import make_app, make_submission, make_user, public_id


@pytest.fixture
def mod(app):
    return make_user(app, "mira", "moderator")


def approve(app, moderator_id, submission_id):
    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        service.approve(submission_id, submission.version, db.session.get(User, moderator_id))


def queries_for(app, client, url) -> int:
    seen = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len([s for s in seen if not s.startswith("PRAGMA")])


def test_a_repeated_page_is_served_from_the_cache_with_one_query(app, client, mod):
    ad, _ = make_submission(app, "ad", title="Cached bike")
    approve(app, mod, ad)
    first = queries_for(app, client, "/ads")
    again = queries_for(app, client, "/ads")
    assert first > 1 and again == 1
    assert "Cached bike" in client.get("/ads").get_data(as_text=True)


def test_reading_the_site_sets_no_cookie(tmp_path):
    """Readers' pages carry no form that needs a session: nothing on a reader's device says they were here,
    and a page served from the cache costs no session either. (CSRF on, as in production.)"""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    mod = make_user(app, "mira", "moderator")
    ad, _ = make_submission(app, "ad", title="Quiet bike")
    approve(app, mod, ad)
    editor = make_user(app, "ales", "editor")
    with app.app_context():
        articles.save(
            None,
            title="Quiet",
            slug="quiet",
            summary="",
            body="Text",
            locale="en",
            publish=True,
            author=db.session.get(User, editor),
        )
    client = app.test_client()
    ad_page = f"/ads/{public_id(app, ad)}-quiet-bike"
    for url in (
        "/",
        "/ads",
        "/ads?q=bike",
        ad_page,
        "/articles",
        "/articles/quiet",
        "/help/telegram",
        "/ads/feed.atom",
        "/articles/feed.atom",
    ):
        for _ in range(2):  # made, then from the cache
            response = client.get(url)
            assert response.status_code == 200, url
            assert "Set-Cookie" not in response.headers, url
    assert f'href="/ads/{public_id(app, ad)}/report"' in client.get(ad_page).get_data(as_text=True)
    assert "Set-Cookie" in client.get(f"/ads/{public_id(app, ad)}/report").headers  # a form: its token's session
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_each_visitor_gets_their_own_working_csrf_token(tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, REPORT_THRESHOLD=5)
    with app.app_context():
        db.create_all()
    mod = make_user(app, "mira", "moderator")
    ad, _ = make_submission(app, "ad", title="Token test")
    approve(app, mod, ad)
    tokens = []
    for n in range(2):
        reader = app.test_client()
        reader.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        html = reader.get(f"/ads/{public_id(app, ad)}/report").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        tokens.append(token)
        response = reader.post(f"/ads/{public_id(app, ad)}/report", data={"reason": "spam", "csrf_token": token})
        assert response.status_code == 303, n
    assert tokens[0] != tokens[1]
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_changes_readers_should_see_show_at_once(app, client, mod):
    ad, code = make_submission(app, "ad", title="Old title", category="goods")
    assert "Old title" not in client.get("/ads").get_data(as_text=True)
    assert client.get("/").status_code == 200  # cache the home page and the list while the ad is pending
    approve(app, mod, ad)
    assert "Old title" in client.get("/ads").get_data(as_text=True)
    assert "Old title" in client.get("/").get_data(as_text=True)
    assert "Old title" in client.get("/ads/feed.atom").get_data(as_text=True)

    # The owner closes it: gone from every page, its own page answers 410.
    assert client.post("/status/close", data={"code": code}).status_code == 200
    for url in ("/ads", "/", "/ads/feed.atom"):
        assert "Old title" not in client.get(url).get_data(as_text=True), url
    assert client.get(f"/ads/{public_id(app, ad)}-old-title").status_code == 410


def test_reports_that_send_an_ad_back_hide_it_at_once(app, client, mod):
    app.config["REPORT_THRESHOLD"] = 1
    ad, _ = make_submission(app, "ad", title="Reported one")
    approve(app, mod, ad)
    assert client.get(f"/ads/{public_id(app, ad)}-reported-one").status_code == 200
    assert client.post(f"/ads/{public_id(app, ad)}/report", data={"reason": "spam"}).status_code == 303
    assert client.get(f"/ads/{public_id(app, ad)}-reported-one").status_code == 404
    assert "Reported one" not in client.get("/ads").get_data(as_text=True)


def test_an_ad_leaves_the_cached_pages_when_it_expires(app, client, mod):
    ad, _ = make_submission(app, "ad", title="Short lived")
    approve(app, mod, ad)
    with app.app_context():
        db.session.get(Submission, ad).expires_at = utcnow() + timedelta(seconds=1.5)
        db.session.commit()
    # The expiry changed no audit event: the cache must know the time itself.
    assert "Short lived" in client.get("/ads").get_data(as_text=True)
    assert client.get(f"/ads/{public_id(app, ad)}-short-lived").status_code == 200
    time.sleep(1.6)
    assert "Short lived" not in client.get("/ads").get_data(as_text=True)
    assert client.get(f"/ads/{public_id(app, ad)}-short-lived").status_code == 410


def test_the_city_suggestions_follow_what_is_live(app, client, mod):
    """The suggestions are worked out once per site state and shared by the pages made meanwhile."""
    first, _ = make_submission(app, "ad", title="Flat", city="Gdańsk")
    approve(app, mod, first)

    def cities(url):
        datalist = client.get(url).get_data(as_text=True).split('<datalist id="city-list">')[1].split("</datalist>")[0]
        return re.findall(r'<option value="([^"]+)">', datalist)

    assert cities("/ads") == ["Gdańsk"]
    second, _ = make_submission(app, "ad", title="Room", city="Riga")
    approve(app, mod, second)
    with app.app_context():  # (every change of an expiry comes with an event; this one is made before any page)
        db.session.get(Submission, first).expires_at = utcnow() + timedelta(seconds=1.5)
        db.session.commit()
    assert sorted(cities("/ads?category=housing")) == ["Gdańsk", "Riga"]  # a page not made before
    assert sorted(cities("/ads")) == ["Gdańsk", "Riga"]
    time.sleep(1.6)  # the Gdańsk ad expires: no event, only the clock
    assert cities("/ads?q=room") == ["Riga"]
    assert cities("/ads") == ["Riga"]


def test_articles_published_edited_and_withdrawn_show_at_once(app, client, mod):
    editor = make_user(app, "ales", "editor")
    with app.app_context():
        author = db.session.get(User, editor)
        article = articles.save(
            None, title="First", slug="first", summary="", body="One", locale="en", publish=True, author=author
        )
        article_id = article.id
    assert "One" in client.get("/articles/first").get_data(as_text=True)
    assert "First" in client.get("/articles").get_data(as_text=True)
    with app.app_context():
        articles.save(
            db.session.get(Article, article_id),
            title="First",
            slug="first",
            summary="",
            body="Two",
            locale="en",
            publish=False,
            author=db.session.get(User, editor),
        )
    assert client.get("/articles/first").status_code == 404
    assert "First" not in client.get("/articles").get_data(as_text=True)


def test_staff_and_visitors_with_messages_are_never_served_from_the_cache(app, client, mod):
    from tests.helpers import sign_in

    ad, _ = make_submission(app, "ad", title="Staff view")
    approve(app, mod, ad)
    client.get("/ads")
    sign_in(client, app, mod)
    assert "Sign out (mira)" in client.get("/ads").get_data(as_text=True)
    reader = app.test_client()
    reader.post(f"/ads/{public_id(app, ad)}/report", data={"reason": "spam"})
    assert "A moderator will look at this ad" in reader.get("/ads").get_data(as_text=True)
