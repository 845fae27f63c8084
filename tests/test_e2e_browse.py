"""Chromium visits every page of the site, as a reader and as an admin: zero CSP violations, no script
errors, and no request to any host but the site's own."""

import io
import re

import pytest
from playwright.sync_api import expect

from app import articles
from app.extensions import db
from app.models import Attachment, Submission, User
from app.submissions import cases, threads
from tests import files
from tests.browser import html_errors
from tests.helpers import PASSWORD, approve, make_user, receipt_from, sign_in
from tests.routes import url_of

pytestmark = [pytest.mark.e2e, pytest.mark.once]

WATCH_CSP = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", e => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


def seed(app, client):
    """One of everything: an ad with a public photo, an article, items of each kind, staff."""
    admin = make_user(app, "boss", "admin")
    sent_ad = client.post(
        "/submit/ad",
        content_type="multipart/form-data",
        data={
            "telegram": "seller_one",
            "title": "Bike",
            "category": "goods",
            "body": "A bike.",
            "show_contact": "y",
            "attachments": [(io.BytesIO(files.jpeg()), "bike.jpg")],
        },
    )
    client.post("/submit/information", data={"telegram": "witness_one", "body": "A tip."})
    client.post("/submit/contact", data={"telegram": "helper_one", "purpose": "job", "body": "A job."})
    with app.app_context():
        user = db.session.get(User, admin)
        # A case with a note and a thread, and a question on the ad, so that their pages show them all.
        contact = db.session.scalars(db.select(Submission).where(Submission.kind == "contact")).one()
        approve(contact.id, contact.version, user)
        threads.write(contact.id, user, "Which city?")
        cases.add_note(contact.id, user, "Call on Monday.")
        ad = db.session.scalars(db.select(Submission).where(Submission.kind == "ad")).one()
        photo = db.session.scalars(db.select(Attachment)).one()
        approve(ad.id, ad.version, user, public_images=[photo.id])
        threads.write(ad.id, user, "Is the bike still there?")
        article = articles.save(
            None,
            title="News",
            slug="",
            summary="S",
            body="**Text** [a](https://example.org)",
            locale="en",
            publish=True,
            author=user,
        )
        pending = db.session.scalars(db.select(Submission).where(Submission.status == "pending")).first()
        return {
            "ad_id": ad.public_id,
            "image_id": photo.public_id,
            "attachment_id": str(photo.id),
            "index": "0",
            "slug": article.slug,
            "article_id": str(article.id),
            "submission_id": str(pending.id),
            "user_id": str(admin),
            "case_id": str(contact.id),
            "admin": admin,
            "ad_receipt": receipt_from(sent_ad.get_data(as_text=True)),
        }


def pages(app, ids) -> list[str]:
    """Every GET page of the URL map (not static files, feeds or JSON), with real ids filled in."""
    urls = []
    for rule in app.url_map.iter_rules():
        files = (
            "static",
            "moderation.attachment",
            "moderation.preview",
            "public.ad_image",
            "public.ad_thumb",
            "public.language",
            "submit.upload",
        )
        if "GET" not in rule.methods or rule.endpoint in files or rule.rule.endswith((".atom", "/challenge")):
            continue  # files, images, feeds, JSON, uploads and the language switch's redirect are not pages
        urls.append(url_of(rule, **ids))
    return sorted(set(urls))


FRAGMENTS = ("/moderation/counts", "/moderation/new")  # parts of the queue page, loaded into it


def visit(page, urls, base, sent=None):
    """Open each page; return the status of each, and keep the HTML the server sent in ``sent``."""
    seen = {}
    for url in urls:
        response = page.goto(base + url)
        page.wait_for_load_state("networkidle")
        seen[url] = response.status
        fragment = url.split("?")[0] in FRAGMENTS
        if sent is not None and not fragment and response.headers.get("content-type", "").startswith("text/html"):
            sent[f"{len(sent):02d}{url}"] = response.text()
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
    sent = {}
    seen = visit(page, urls, live_server.url, sent)
    assert seen["/ads/" + ids["ad_id"]] == 200 and seen["/"] == 200

    page.goto("/auth/login")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile("Sign out"))).to_be_visible()
    seen = visit(page, urls, live_server.url, sent)
    staff = [u for u in urls if u.startswith(("/moderation", "/admin"))]
    assert staff and all(seen[u] == 200 for u in staff if "/attachments/" not in u), seen
    assert page.problems == [], {u: s for u, s in seen.items() if s != 200}
    sent |= pages_with_errors(live_server, ids)
    assert len(sent) >= 45  # every page as a reader and as an admin, and the pages with errors
    assert html_errors(sent) == []


def pages_with_errors(live_server, ids) -> dict[str, str]:
    """The pages a person sees after a mistake: every form with its errors shown, as the server sends them."""
    client = live_server.app.test_client()
    live_server.app.config["WTF_CSRF_ENABLED"] = False
    try:
        found = {}
        for name in ("information", "contact", "ad"):
            found[f"errors-{name}"] = client.post(f"/submit/{name}", data={"telegram": "+375 29 123 45 67"})
        found["errors-status"] = client.post("/status", data={"code": "1111 2222 3333 4444"})
        found["errors-login"] = client.post("/auth/login", data={"username": "boss", "password": "wrong one"})
        # The owner's /status with a question to answer and the ad's edit form, then both with errors.
        code = ids["ad_receipt"]
        found["status-thread"] = client.post("/status", data={"code": code})
        found["errors-reply"] = client.post("/status/reply", data={"code": code, "reply": ""})
        found["errors-ad-edit"] = client.post("/status/edit", data={"code": code, "title": "", "body": ""})
        staff = live_server.app.test_client()
        sign_in(staff, live_server.app, ids["admin"])
        case = ids["case_id"]
        found["case"] = staff.get(f"/moderation/{case}")
        found["errors-case-note"] = staff.post(f"/moderation/{case}/note", data={"internal_note": ""})
        found["errors-case-message"] = staff.post(f"/moderation/{case}/message", data={"message": ""})
        found["errors-delete"] = staff.post(f"/moderation/{case}/delete", data={})
        found["errors-keys"] = staff.post("/auth/keys", data={"name": "", "password": ""})
        return {name: response.get_data(as_text=True) for name, response in found.items()}
    finally:
        live_server.app.config["WTF_CSRF_ENABLED"] = True
