"""Articles: editors write Markdown with a live preview; readers see only published, sanitized HTML.
Feeds: Atom for ads and for articles, parsed as a feed reader would."""

import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Article, Submission, User, utcnow
from app.slugs import slugify
from tests.helpers import HX, approve, login, make_submission, make_user, public_id
from tests.test_sanitize import policy_violations

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def editor(app, client):
    make_user(app, "ales", "editor")
    assert login(client, "ales").status_code == 303
    return client


def write(client, **fields):
    data = {
        "title": "Letters matter",
        "slug": "",
        "locale": "en",
        "summary": "Why write to prisoners.",
        "body": "# Why\n\nA letter is **proof** that someone remembers.",
        "publish": "y",
    } | fields
    return client.post("/admin/articles/new", data=data)


def test_an_editor_publishes_an_article_readers_can_open(app, editor):
    response = write(editor)
    assert response.status_code == 303
    html = app.test_client().get("/articles/letters-matter").get_data(as_text=True)
    assert '<h1 id="article-title">Letters matter</h1>' in html
    assert "<h2>Why</h2>" in html and "<strong>proof</strong>" in html
    assert '<div class="article-body" hx-disable>' in html
    assert "Letters matter" in app.test_client().get("/articles").get_data(as_text=True)
    assert "Letters matter" in app.test_client().get("/").get_data(as_text=True)


def test_drafts_are_not_found_by_readers(app, editor):
    write(editor, title="Not yet", publish="")
    with app.app_context():
        article = db.session.scalars(select(Article)).one()
        assert article.status == "draft" and article.published_at is None
    reader = app.test_client()
    assert reader.get("/articles/not-yet").status_code == 404
    assert "Not yet" not in reader.get("/articles").get_data(as_text=True)
    assert "Not yet" not in reader.get("/articles/feed.atom").get_data(as_text=True)


def test_markdown_is_sanitized_on_save(app, editor):
    write(
        editor,
        title="Unsafe",
        body="<script>alert(1)</script>\n\n[click](javascript:alert(1)) "
        '<a href="/x" hx-get="/admin/users" onclick="x()">raw</a> [ok](https://example.org)',
    )
    with app.app_context():
        stored = db.session.scalars(select(Article)).one().body_html
    assert "<script" not in stored and "javascript:" not in stored.replace("[click](javascript:alert(1))", "")
    # The raw tag shows as text: no element carries hx-get, onclick or the raw link's href.
    assert policy_violations(stored) == [] and '<a href="/x"' not in stored
    assert "&lt;a href=" in stored
    assert '<a href="https://example.org" rel="noopener noreferrer nofollow">ok</a>' in stored


def test_live_preview_renders_what_readers_will_see(editor):
    response = editor.post("/admin/articles/preview", data={"body": "*hi* <img src=x onerror=alert(1)>"}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<em>hi</em>" in html and "<img" not in html
    assert "hx-disable" in html and "<html" not in html


def test_errors_keep_what_was_typed(editor):
    response = write(editor, title="", body="My long text", slug="Bad Slug!")
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "An article needs a title." in html and "Use Latin letters a-z" in html and "My long text" in html


def test_slugs_are_readable_and_unique(app, editor):
    write(editor, title="Як падтрымаць сям'ю", locale="be")
    write(editor, title="Як падтрымаць сям'ю", locale="be")
    with app.app_context():
        slugs = db.session.scalars(select(Article.slug).order_by(Article.id)).all()
    assert slugs == ["iak-padtrymac-siamiu", "iak-padtrymac-siamiu-2"]
    assert slugify("  ---  ") == "item" and slugify("Hello, World!") == "hello-world"


def test_editing_keeps_the_first_publication_date_and_can_unpublish(app, editor):
    write(editor)
    with app.app_context():
        article = db.session.scalars(select(Article)).one()
        first_published, article_id = article.published_at, article.id
    data = {
        "title": "Letters matter",
        "slug": "letters-matter",
        "locale": "en",
        "summary": "",
        "body": "Changed text.",
        "publish": "y",
    }
    assert editor.post(f"/admin/articles/{article_id}", data=data).status_code == 303
    with app.app_context():
        article = db.session.get(Article, article_id)
        assert article.published_at == first_published and "Changed text." in article.body_html
    assert editor.post(f"/admin/articles/{article_id}", data=data | {"publish": ""}).status_code == 303
    assert app.test_client().get("/articles/letters-matter").status_code == 404


def parse_feed(response):
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)  # noqa: S314  (the app's own feed, just made by the test)
    assert root.tag == f"{ATOM}feed"
    for required in ("title", "id", "updated"):
        assert root.find(f"{ATOM}{required}") is not None, required
    return root, root.findall(f"{ATOM}entry")


def test_articles_feed_lists_published_articles_newest_first(app, editor):
    write(editor, title="First <one> & only")
    write(editor, title="Second", locale="ru")
    _root, entries = parse_feed(app.test_client().get("/articles/feed.atom"))
    assert [e.find(f"{ATOM}title").text for e in entries] == ["Second", "First <one> & only"]
    first = entries[1]
    assert first.find(f"{ATOM}link").get("href") == "http://localhost/articles/first-one-only"
    assert first.find(f"{ATOM}content").get("type") == "html"
    assert "<h2>Why</h2>" in first.find(f"{ATOM}content").text
    assert entries[0].get("{http://www.w3.org/XML/1998/namespace}lang") == "ru"
    for entry in entries:
        for required in ("id", "title", "updated", "published", "link"):
            assert entry.find(f"{ATOM}{required}") is not None


def test_ads_feed_lists_live_ads_only(app):
    approver = make_user(app, "mira", "moderator")
    live, _ = make_submission(app, "ad", title="Live & well", telegram="hidden_handle", show_contact=False)
    gone, _ = make_submission(app, "ad", title="Expired")
    make_submission(app, "ad", title="Pending")
    with app.app_context():
        user = db.session.get(User, approver)
        approve(live, 1, user)
        approve(gone, 1, user)
        db.session.get(Submission, gone).expires_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    response = app.test_client().get("/ads/feed.atom")
    _root, entries = parse_feed(response)
    assert [e.find(f"{ATOM}title").text for e in entries] == ["Live & well"]
    assert entries[0].find(f"{ATOM}link").get("href") == f"http://localhost/ads/{public_id(app, live)}-live-well"
    assert b"hidden_handle" not in response.data


def test_feeds_are_valid_when_empty(client):
    for url in ("/ads/feed.atom", "/articles/feed.atom"):
        _, entries = parse_feed(client.get(url))
        assert entries == []
