"""Chromium visits every page of the site, as a reader and as an admin: zero CSP violations, no script
errors, and no request to any host but the site's own."""

import io
import re

import pytest
from playwright.sync_api import expect

from app import articles
from app.extensions import db
from app.models import Attachment, Submission, User
from app.moderation import service
from tests import files
from tests.conftest import PASSWORD, make_user
from tests.routes import url_of

pytestmark = pytest.mark.e2e

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def seed(app, client):
    """One of everything: an ad with a public photo, an article, items of each kind, staff."""
    admin = make_user(app, "boss", "admin")
    client.post("/submit/ad", content_type="multipart/form-data", data={
        "telegram": "seller_one", "title": "Bike", "category": "goods", "body": "A bike.", "show_contact": "y",
        "attachments": [(io.BytesIO(files.jpeg()), "bike.jpg")]})
    client.post("/submit/information", data={"telegram": "witness_one", "body": "A tip."})
    client.post("/submit/contact", data={"telegram": "helper_one", "purpose": "job", "body": "A job."})
    with app.app_context():
        user = db.session.get(User, admin)
        ad = db.session.scalars(db.select(Submission).where(Submission.kind == "ad")).one()
        photo = db.session.scalars(db.select(Attachment)).one()
        service.approve(ad.id, ad.version, user, public_images=[photo.id])
        article = articles.save(None, title="News", slug="", summary="S", body="**Text** [a](https://example.org)",
                                locale="en", publish=True, author=user)
        pending = db.session.scalars(db.select(Submission).where(Submission.status == "pending")).first()
        return {"ad_id": ad.public_id, "image_id": photo.public_id, "attachment_id": str(photo.id), "index": "0",
                "slug": article.slug,
                "article_id": str(article.id), "submission_id": str(pending.id), "user_id": str(admin)}


def pages(app, ids) -> list[str]:
    """Every GET page of the URL map (not static files, feeds or JSON), with real ids filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        files = ("static", "moderation.attachment", "moderation.preview", "public.ad_image", "public.ad_thumb",
                 "public.language")
        if "GET" not in rule.methods or rule.endpoint in files or rule.rule.endswith((".atom", "/challenge")):
            continue  # files, images, feeds, JSON and the language switch's redirect are not pages
        urls.append(url_of(rule, **ids))
    return sorted(set(urls))


def visit(page, urls, base):
    seen = {}
    for url in urls:
        response = page.goto(base + url)
        page.wait_for_load_state("networkidle")
        seen[url] = response.status
        violations = page.evaluate("window.__csp || []")
        assert violations == [], (url, violations)
    return seen


def test_every_page_as_a_reader_and_as_an_admin(page, browser, live_server):
    app = live_server.app
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    ids = seed(app, client)
    app.config["WTF_CSRF_ENABLED"] = True
    urls = pages(app, ids)
    assert len(urls) >= 20

    page.add_init_script(WATCH_CSP)
    seen = visit(page, urls, live_server.url)
    assert seen["/ads/" + ids["ad_id"]] == 200 and seen["/"] == 200

    page.goto("/auth/login")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()
    seen = visit(page, urls, live_server.url)
    staff = [u for u in urls if u.startswith(("/moderation", "/admin"))]
    assert staff and all(seen[u] == 200 for u in staff if "/attachments/" not in u), seen
    assert page.problems == [], {u: s for u, s in seen.items() if s != 200}
