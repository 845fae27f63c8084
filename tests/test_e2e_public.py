"""Readers and submitters in Chromium: an ad from the form to the list and back to the queue, accessibility
(axe-core, WCAG 2.2 A/AA) on every public page and form, screenshots at phone and desktop widths, Quick exit."""

import json
import os
import re

import pytest
from playwright.sync_api import expect

from app import ROOT, articles
from app.extensions import db
from app.models import Submission, User
from tests import files
from tests.browser import DESKTOP, PHONE, screenshot, sign_in
from tests.helpers import approve, make_submission, make_user, public_id

pytestmark = [pytest.mark.e2e, pytest.mark.once]

AXE = os.path.join(ROOT, "node_modules", "axe-core", "axe.min.js")
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


def test_an_ad_with_a_photo_goes_public_and_comes_back_after_reports(page, browser, live_server, tmp_path):
    app = live_server.app
    app.config["REPORT_THRESHOLD"] = 1
    photo = tmp_path / "bike.jpg"
    photo.write_bytes(files.jpeg(orientation=6, size=(120, 80)))

    page.goto("/submit/ad")
    page.get_by_label("Title").fill("Child's bike to give away")
    page.get_by_label("Category").select_option("goods")
    page.get_by_label("City or region (optional)").fill("Vilnius")
    page.get_by_label("Text of the ad").fill("A blue bike for a child of 6-8 years. Free.")
    page.get_by_label("Your Telegram username").fill("@bike_giver")
    page.get_by_label("Show my Telegram username with the published ad").check()
    page.get_by_label("Files (optional)").set_input_files([str(photo)])
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#receipt-code")).to_have_text(re.compile(r"\d{4} \d{4} \d{4} \d{4}"))

    make_user(app, "olga")
    sign_in(page, "olga")
    page.locator(".queue-row .row-title").first.click()
    page.get_by_label("Show this photo with the published ad").check()
    page.locator("#panel").get_by_role("button", name="Approve").click()
    expect(page.locator(".queue-row.done")).to_contain_text("Approved")
    page.get_by_role("button", name=re.compile("Sign out")).click()

    page.goto("/ads")
    card = page.locator(".ad-card", has_text="Child's bike to give away")
    expect(card).to_be_visible()
    thumb = card.locator("img.ad-thumb")
    expect(thumb).to_have_count(1)
    assert page.evaluate("img => img.complete && img.naturalWidth > 0", thumb.element_handle())
    card.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Child's bike to give away")
    expect(page.get_by_role("link", name="Write on Telegram")).to_have_attribute("href", "https://t.me/bike_giver")
    image = page.locator(".ad-images img")
    assert page.evaluate("img => img.complete && img.naturalHeight > img.naturalWidth", image.element_handle())
    screenshot(page, "ad-with-photo-desktop")

    page.get_by_text("Report this ad").click()
    page.get_by_label("It asks for money or looks like fraud").check()
    page.get_by_label("Anything a moderator should know (optional)").fill("Asked me to pay for delivery first.")
    page.get_by_role("button", name="Send the report").click()
    expect(page.locator(".notice.success")).to_contain_text("A moderator will look at this ad")
    expect(page.locator(".ad-card", has_text="Child's bike")).to_have_count(0)

    sign_in(page, "olga")
    row = page.locator(".queue-row", has_text="Child's bike to give away")
    expect(row).to_be_visible()
    row.locator(".row-title").click()
    # In the side panel, or on the item page if the click came before the queue script was ready.
    expect(page.locator(".reports")).to_contain_text("Asked me to pay for delivery first.")
    assert page.problems == []


def demo_content(app):
    """One of everything readers can open, to check and photograph."""
    editor = make_user(app, "ales", "editor")
    moderator = make_user(app, "mira", "moderator")
    ad_id, _ = make_submission(
        app,
        "ad",
        title="Room for a family in Vilnius",
        city="Vilnius",
        body="A quiet room for up to a month.\nNear the bus station.",
    )
    make_submission(app, "ad", title="Looking for work as a driver", category="job_wanted", city="Warsaw")
    with app.app_context():
        user = db.session.get(User, moderator)
        for submission in db.session.scalars(db.select(Submission)):
            approve(submission.id, submission.version, user)
        article = articles.save(
            None,
            title="The first week after release",
            slug="",
            locale="en",
            publish=True,
            summary="Documents, health and people to talk to.",
            body="## Documents\n\n- Keep every paper.\n- Ask in writing.\n\n"
            "Read [our guide](https://example.org/guide).",
            author=db.session.get(User, editor),
        )
        return f"/ads/{public_id(app, ad_id)}-room-for-a-family-in-vilnius", f"/articles/{article.slug}"


def axe_violations(page) -> list[dict]:
    if not os.path.exists(AXE):
        pytest.fail("axe-core is missing: `make test-tools` installs it (npm ci)")
    with open(AXE, encoding="utf-8") as f:
        page.evaluate(f.read())
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS)
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:3]} for v in result["violations"]
    ]


PAGES = {
    "home": "/",
    "ads": "/ads",
    "ads-filtered": "/ads?q=room&category=housing",
    "articles": "/articles",
    "form-information": "/submit/information",
    "form-contact": "/submit/contact",
    "form-job": "/submit/contact?purpose=job",
    "form-ad": "/submit/ad",
    "status": "/status",
    "help-telegram": "/help/telegram",
    "safety": "/safety",
    "sign-in": "/auth/login",
    "not-found": "/no-such-page",
}


@pytest.mark.parametrize("locale", ["en", "be"])
def test_every_public_page_passes_axe_and_is_photographed(browser, live_server, locale):
    ad_url, article_url = demo_content(live_server.app)
    pages = PAGES | {"ad": ad_url, "article": article_url}
    found = {}
    for width_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        # bypass_csp: only so that the test can inject axe-core; the pages themselves run under the real CSP.
        context = browser.new_context(
            viewport=viewport, base_url=live_server.url, bypass_csp=True, extra_http_headers={"Accept-Language": locale}
        )
        page = context.new_page()
        for name, url in pages.items():
            page.goto(url)
            expect(page.locator("html")).to_have_attribute("lang", locale)
            expect(page.locator("a.quick-exit")).to_be_visible()
            if width_name == "desktop":
                found[name] = axe_violations(page)
            if locale == "en":
                screenshot(page, f"{name}-{width_name}")
        context.close()
    failing = {name: v for name, v in found.items() if v}
    assert failing == {}, json.dumps(failing, indent=1, ensure_ascii=False)


def test_forms_with_errors_and_the_report_form_pass_axe(browser, live_server):
    ad_url, _ = demo_content(live_server.app)
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url, bypass_csp=True)
    page = context.new_page()
    found = {}
    for name in ("information", "contact", "ad"):
        page.goto(f"/submit/{name}")
        page.get_by_label("Your Telegram username").fill("+375 29 123 45 67")
        page.get_by_role("button", name="Send").click()
        summary = page.locator("#error-summary")
        expect(summary).to_be_visible()
        # The summary is an alert (announced by screen readers) and each field names its error.
        expect(summary).to_have_attribute("role", "alert")
        telegram = page.get_by_label("Your Telegram username")
        expect(telegram).to_have_attribute("aria-invalid", "true")
        expect(telegram).to_have_value("+375 29 123 45 67")
        found[f"form-{name}-errors"] = axe_violations(page)
        if name == "ad":
            screenshot(page, "form-ad-errors-desktop")
    page.goto(ad_url)
    page.get_by_text("Report this ad").click()
    page.get_by_role("button", name="Send the report").click()
    expect(page.locator("#error-summary")).to_be_visible()
    found["report-errors"] = axe_violations(page)
    context.close()
    failing = {name: v for name, v in found.items() if v}
    assert failing == {}, json.dumps(failing, indent=1, ensure_ascii=False)


def test_a_form_can_be_filled_and_sent_with_the_keyboard_alone(page):
    page.goto("/submit/information")
    page.keyboard.press("Tab")  # the skip link comes first
    expect(page.locator("a.skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    order = []
    for _ in range(40):
        page.keyboard.press("Tab")
        name = page.evaluate("document.activeElement.name || document.activeElement.textContent.trim()")
        order.append(name)
        if name == "body":
            page.keyboard.type("Sent with the keyboard only.")
        if name == "telegram":
            page.keyboard.type("keyboard_user")
        if name == "Send":
            break
    assert "website" not in order  # the honeypot is out of the tab order
    page.keyboard.press("Enter")
    expect(page.locator("#receipt-code")).to_be_visible()
    assert page.problems == []


BEFORE = "https://news.example/today"  # what the tab showed before the site


def elsewhere(page) -> None:
    """The quick exit's ordinary site, and the page the tab showed before the site, answered here (no network)."""
    for pattern in ("https://www.google.com/**", "https://news.example/**"):
        page.route(pattern, lambda route: route.fulfill(status=200, body="elsewhere", content_type="text/plain"))
    page.problems_allowed = True
    page.goto(BEFORE)


def test_quick_exit_leaves_no_page_of_the_site_in_the_tabs_history(page, live_server):
    elsewhere(page)
    page.goto("/")
    length = page.evaluate("history.length")  # the page open before the site, and the site's one entry
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Ads").click()
    expect(page).to_have_url(live_server.url + "/ads")
    nav.get_by_role("link", name="Articles").click()
    expect(page).to_have_url(live_server.url + "/articles")
    page.get_by_role("link", name="How to find or create a username in Telegram?").click()
    expect(page).to_have_url(live_server.url + "/help/telegram")
    assert page.evaluate("history.length") == length  # each page replaced the one before
    page.get_by_role("link", name="Quick exit").click()
    expect(page).to_have_url(re.compile(r"^https://www\.google\.com/"))
    assert page.evaluate("history.length") == length
    page.go_back()
    expect(page).to_have_url(BEFORE)  # Back reaches what was open before the site
    assert page.evaluate("history.length") == length


def test_a_receipt_checked_at_status_leaves_no_entry_of_its_own(page, live_server):
    _item, code = make_submission(live_server.app)
    elsewhere(page)
    page.goto("/")
    length = page.evaluate("history.length")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Check status").click()
    page.get_by_label("Receipt code").fill(code)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".status-result")).to_be_visible()
    assert page.evaluate("history.length") == length  # the code's answer took the form's place
    page.get_by_role("link", name="Quick exit").click()
    expect(page).to_have_url(re.compile(r"^https://www\.google\.com/"))
    page.go_back()
    expect(page).to_have_url(BEFORE)


def test_a_form_with_something_typed_stays_in_history_and_its_telegram_help_opens_in_place(page, live_server):
    page.goto("/")
    length = page.evaluate("history.length")
    page.get_by_role("link", name="Add information").click()
    expect(page).to_have_url(live_server.url + "/submit/information")
    assert page.evaluate("history.length") == length  # the home page's entry became the form's
    page.get_by_label("What do you want to tell us?").fill("Parcels are sent back.")
    page.locator("summary", has_text="How to find or create a username in Telegram?").click()
    expect(page.get_by_text("Open Telegram and go to Settings.")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/submit/information")
    # Leaving a form that holds something typed adds an entry: Back brings the form back, as it was.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Ads").click()
    expect(page).to_have_url(live_server.url + "/ads")
    assert page.evaluate("history.length") == length + 1
    page.go_back()
    expect(page.get_by_label("What do you want to tell us?")).to_have_value("Parcels are sent back.")
    assert page.problems == []
