"""Issue 29, item 5: what a person sending from a searched phone meets, in English, Russian and Belarusian, without
JavaScript, at 390 px: the page on sending safely, the receipt, and /status with a message from the team, its
"Hide these messages here" and "Delete everything now". Each is photographed (build/screenshots) and fits the
phone's width."""

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from app.extensions import db
from app.models import Submission, User
from app.submissions import threads
from tests.browser import PHONE, screenshot
from tests.helpers import make_user

pytestmark = [pytest.mark.e2e]

ENGLISH = {
    "safety": "Sending safely",
    "receipt": "Your receipt code",
    "paper": "Write it on paper and keep the paper apart from your phone. With it you can check the status of your "
    "submission, read and answer our questions, and delete everything at any time.",
    "hide": "Hide these messages here",
    "delete": "Delete everything now",
}


def words(app, locale: str) -> dict[str, str]:
    """What each page says in ``locale``, from its catalog: a page left in English is seen."""
    with app.test_request_context(), force_locale(locale):
        found = {key: gettext(text) for key, text in ENGLISH.items()}
    assert locale == "en" or all(found[key] != ENGLISH[key] for key in ENGLISH), found
    return found


def fits(page) -> None:
    """Nothing wider than the phone: no sideways scrolling."""
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


@pytest.mark.parametrize("locale", ["en", "ru", "be"])
def test_safety_receipt_and_status_on_a_phone_without_javascript(browser, live_server, locale):
    said = words(live_server.app, locale)
    context = browser.new_context(
        viewport=PHONE,
        base_url=live_server.url,
        java_script_enabled=False,
        extra_http_headers={"Accept-Language": locale},
    )
    page = context.new_page()

    page.goto("/safety")
    expect(page.locator("h1")).to_have_text(said["safety"])
    fits(page)
    screenshot(page, f"safety-nojs-{locale}-phone")

    page.goto("/submit/information")
    page.locator("#body").fill("Parcels with warm clothes are sent back.")
    page.locator("#telegram").fill("witness_one")
    page.locator("form.submit-form button[type=submit]").click()
    expect(page.locator("#receipt-code")).to_be_visible()
    expect(page.locator("main")).to_contain_text(said["receipt"])
    expect(page.locator("main")).to_contain_text(said["paper"])  # as /safety says
    assert page.locator("main").get_by_role("button").count() == 0  # no copy, download or share button
    fits(page)
    screenshot(page, f"receipt-nojs-{locale}-phone")
    code = page.locator("#receipt-code").inner_text().strip()

    app = live_server.app
    make_user(app, "olga")
    with app.app_context():
        item = db.session.scalars(db.select(Submission)).one()
        threads.write(item.id, db.session.scalars(db.select(User)).one(), "Which colony was he moved to?")

    page.goto("/status")
    page.locator("#code").fill(code)
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator(".status-result")).to_contain_text("Which colony was he moved to?")
    expect(page.get_by_role("button", name=said["hide"])).to_be_visible()
    expect(page.locator(".withdraw summary")).to_have_text(said["delete"])
    # Right under the thread: after its messages and the hiding, before the answer's form.
    order = page.evaluate(
        """() => ['.messages', '.hide-form', '.withdraw', '.reply-form'].map(
            s => [...document.querySelectorAll('main *')].indexOf(document.querySelector(s)))"""
    )
    assert order == sorted(order) and -1 not in order, order
    fits(page)
    screenshot(page, f"status-nojs-{locale}-phone")
    context.close()
