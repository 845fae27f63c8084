"""Sealed items in Chromium, as a moderator sees them: one who arrived after an item sees "locked" and is told why
and what still works; a search of the queue says how far it went and searches further."""

import pytest
from playwright.sync_api import expect

from app.submissions import queue as staff_queue
from tests.browser import DESKTOP, PHONE, screenshot, sign_in
from tests.helpers import make_reader, make_submission

pytestmark = [pytest.mark.e2e, pytest.mark.once]


def test_a_newcomer_sees_locked_where_the_words_would_be_and_may_still_take_it_on(page, live_server):
    app = live_server.app
    make_reader(app, "olga")
    item, _ = make_submission(app, "information", title="Who was taken", body="Names and an address.")
    make_reader(app, "ivan")
    sign_in(page, "ivan")
    row = page.locator(f"#row-{item}")
    expect(row).to_contain_text("locked")
    expect(page.locator("main")).not_to_contain_text("Who was taken")
    row.locator("a.row-title").click()
    panel = page.locator("#panel")
    expect(panel).to_contain_text("Your key does not open this item")
    expect(panel.locator(".item-body")).to_have_text("locked")
    screenshot(page, "sealed-locked-item-desktop")
    page.set_viewport_size(PHONE)
    page.goto(f"/moderation/{item}")
    screenshot(page, "sealed-locked-item-phone")
    page.get_by_role("button", name="Take it on").click()
    expect(page.locator("main")).to_contain_text("Moderation queue")
    assert page.problems == []


def test_a_search_says_how_far_it_went_and_goes_further(page, live_server, monkeypatch):
    app = live_server.app
    monkeypatch.setattr(staff_queue, "SEARCH_ROWS", 4)
    make_reader(app, "olga")
    for n in range(10):
        make_submission(app, "information", title=f"Parcel {n}", body="A parcel was refused." if n % 3 else "Visit.")
    sign_in(page, "olga")
    page.set_viewport_size(DESKTOP)
    page.goto("/moderation?q=parcel+refused")
    more = page.locator("#more")
    expect(more).to_contain_text("Searched the items sent up to")
    expect(page.locator(".queue-row")).to_have_count(2)
    screenshot(page, "sealed-queue-search-desktop")
    more.get_by_role("link", name="Search further").click()
    expect(page.locator(".queue-row")).to_have_count(5)
    page.set_viewport_size(PHONE)
    screenshot(page, "sealed-queue-search-phone")
    assert page.problems == []
