"""A visitor in Chromium: fills each form, keeps the receipt, checks it at /status, withdraws one."""

import re

import pytest
from playwright.sync_api import expect

from app.models import Submission
from tests.browser import DESKTOP, PHONE, screenshot
from tests.helpers import count

pytestmark = [pytest.mark.e2e, pytest.mark.once]


def read_receipt(page) -> str:
    code = page.locator("#receipt-code").inner_text().strip()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code), code
    return code


def check_status(page, code: str, expected: str):
    page.goto("/status")
    page.get_by_label("Receipt code").fill(code)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".status-result")).to_contain_text(expected)


def test_visitor_sends_each_form_checks_the_status_and_withdraws_one(page, live_server):
    receipts = {}

    page.goto("/")
    page.get_by_role("link", name="Add information").click()
    expect(page).to_have_url(re.compile(r"/submit/information$"))
    page.get_by_label("Subject (optional)").fill("Parcels refused at the colony")
    page.get_by_label("What do you want to tell us?").fill("Parcels with warm clothes are sent back.")
    page.get_by_label("Your Telegram username").fill("@witness_one")
    page.get_by_role("button", name="Send").click()
    receipts["information"] = read_receipt(page)
    expect(page.get_by_text("This code is shown only once.")).to_be_visible()
    screenshot(page, "receipt-desktop")

    page.goto("/")
    page.get_by_role("link", name="Offer a job").click()
    expect(page.get_by_label("How can you help?")).to_have_value("job")
    page.get_by_label("Tell us about your offer").fill("Two paid helper jobs in a renovation team.")
    page.get_by_label("Your Telegram username").fill("https://t.me/builder_team")
    page.get_by_role("button", name="Send").click()
    receipts["contact"] = read_receipt(page)

    page.goto("/")
    page.get_by_role("link", name="Add an ad").click()
    page.get_by_label("Title").fill("Electrician looking for work")
    page.get_by_label("Category").select_option("job_wanted")
    page.get_by_label("City or region (optional)").fill("Białystok")
    page.get_by_label("Text of the ad").fill("Twelve years of experience, own tools.")
    page.get_by_label("Your Telegram username").fill("sparky_by")
    page.get_by_label("Show my Telegram username with the published ad").check()
    page.get_by_role("button", name="Send for moderation").click()
    receipts["ad"] = read_receipt(page)

    assert len(set(receipts.values())) == 3
    assert count(live_server.app, Submission) == 3
    for code in receipts.values():
        check_status(page, code, "Waiting for moderation")
    screenshot(page, "status-desktop")

    check_status(page, receipts["contact"], "Waiting for moderation")
    page.get_by_text("Delete everything now").first.click()
    page.get_by_label("I understand that my submission and its files will be deleted for good").check()
    page.get_by_role("button", name="Delete everything now").click()
    expect(page.get_by_role("status")).to_contain_text("deleted and cannot be restored")
    assert count(live_server.app, Submission) == 2

    page.goto("/status")
    page.get_by_label("Receipt code").fill(receipts["contact"])
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".error")).to_have_text("No submission matches this code. Check the digits and try again.")
    check_status(page, receipts["ad"], "Electrician looking for work")
    assert page.problems == []


def test_mistakes_are_explained_and_nothing_typed_is_lost(page, live_server):
    page.goto("/submit/ad")
    page.get_by_label("Title").fill("Sofa to give away")
    page.get_by_label("Text of the ad").fill("Old but comfortable, pick it up yourself.")
    page.get_by_label("Your Telegram username").fill("+375 29 111 22 33")
    page.get_by_role("button", name="Send for moderation").click()
    expect(page.get_by_role("alert").filter(has_text="Please check the form")).to_be_visible()
    expect(page.get_by_text("This looks like a phone number.").last).to_be_visible()
    expect(page.get_by_text("Choose a category for the ad.").last).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Sofa to give away")
    expect(page.get_by_label("Text of the ad")).to_have_value("Old but comfortable, pick it up yourself.")
    expect(page.get_by_label("Your Telegram username")).to_have_value("+375 29 111 22 33")
    screenshot(page, "ad-errors-desktop")
    assert count(live_server.app, Submission) == 0
    assert page.problems == []


def test_switching_language_keeps_the_page(page):
    page.goto("/submit/contact?purpose=job")
    page.get_by_role("link", name="Беларуская").click()
    expect(page.locator("html")).to_have_attribute("lang", "be")
    expect(page).to_have_url(re.compile(r"/submit/contact\?purpose=job$"))
    expect(page.locator("#purpose")).to_have_value("job")


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize(
    "url", ["/", "/submit/information", "/submit/contact", "/submit/ad", "/status", "/help/telegram"]
)
def test_screenshots_for_review(page, url, viewport):
    page.set_viewport_size(DESKTOP if viewport == "desktop" else PHONE)
    page.goto(url)
    name = url.strip("/").replace("/", "-") or "home"
    screenshot(page, f"{name}-{viewport}")
    # Nothing sticks out sideways on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.problems == []
