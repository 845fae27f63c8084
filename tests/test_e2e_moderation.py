"""A moderator in Chromium works the queue with the keyboard; a second moderator runs into a conflict."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser import DESKTOP, PHONE, screenshot, sign_in
from tests.helpers import make_reader, make_submission, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.once]


def test_keyboard_review_conflict_and_the_reason_at_status(page, browser, live_server):
    app = live_server.app
    make_reader(app, "olga")
    make_reader(app, "ivan")
    first, _ = make_submission(app, "ad", title="Electrician looking for work", category="job_wanted")
    second, code = make_submission(app, "information", title="A tip with a stranger's address")
    third, _ = make_submission(app, "contact", body="I can offer a room in Warsaw for a month.")

    # Ivan opens the queue first and leaves his tab open.
    other = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    ivan = other.new_page()
    sign_in(ivan, "ivan")
    expect(ivan.locator(f"#row-{third}")).to_be_visible()

    sign_in(page, "olga")
    expect(page.locator("#count-all")).to_have_text("3")
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_be_visible()
    page.keyboard.press("?")

    page.keyboard.press("j")
    expect(page.locator(f"#row-{first}")).to_have_class(re.compile("selected"))
    page.keyboard.press("a")  # an ad: it opens, to be read, and is approved there (issue 28)
    expect(page.locator("#panel .item-head")).to_contain_text("Electrician looking for work")
    page.locator("#panel").get_by_role("button", name="Approve").click()
    expect(page.locator(f"#row-{first}")).to_contain_text("Approved: Electrician looking for work")
    expect(page.locator("#count-all")).to_have_text("2")
    expect(page.locator(f"#row-{second}")).to_have_class(re.compile("selected"))

    page.keyboard.press("r")
    reason = page.locator("#panel select[name=reason]")
    expect(reason).to_be_focused()
    reason.select_option("personal_data")
    page.locator("#panel textarea[name=note]").fill("Please leave out the address.")
    screenshot(page, "queue-panel-desktop")
    page.locator("#panel").get_by_role("button", name="Reject").click()
    expect(page.locator(f"#row-{second}")).to_contain_text("Rejected: A tip with a stranger")
    expect(page.locator("#panel .item")).to_have_count(0)
    expect(page.locator("#count-all")).to_have_text("1")

    page.keyboard.press("a")  # the third row is selected now: an offer of help, taken on as a case
    expect(page.locator(f"#row-{third}")).to_contain_text("Taken on as a case")
    screenshot(page, "queue-after-desktop")

    # Ivan's tab still shows the third item as pending: his click meets Olga's decision.
    ivan.locator(f"#row-{third}").get_by_role("button", name="Take on").click()
    expect(ivan.locator(f"#row-{third}")).to_contain_text(
        re.compile(r"Someone acted first: olga took it on as a case at")
    )
    screenshot(ivan, "queue-conflict-desktop")
    other.close()

    # The submitter reads the reason at /status.
    visitor = browser.new_context(base_url=live_server.url).new_page()
    visitor.goto("/status")
    visitor.get_by_label("Receipt code").fill(code)
    visitor.get_by_role("button", name="Check", exact=True).click()
    expect(visitor.locator(".status-result")).to_contain_text("Rejected")
    expect(visitor.locator(".status-result")).to_contain_text("It contains someone's personal data")
    expect(visitor.locator(".status-result")).to_contain_text("Please leave out the address.")
    visitor.context.close()
    assert page.problems == []


def test_undo_brings_the_row_back(page, live_server):
    app = live_server.app
    make_user(app, "olga")
    item, _ = make_submission(app, title="Undo me")
    sign_in(page, "olga")
    page.locator(f"#row-{item}").get_by_role("button", name="Take on").click()  # information: taken on as a case
    expect(page.locator(f"#row-{item}")).to_contain_text("Taken on as a case: Undo me")
    page.locator(f"#row-{item}").get_by_role("button", name="Undo").click()
    expect(page.locator(f"#row-{item}")).to_contain_text("Undo me")
    expect(page.locator(f"#row-{item}").get_by_role("button", name="Take on")).to_be_visible()
    expect(page.locator("#count-all")).to_have_text("1")
    assert page.problems == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_queue_screenshots(page, live_server, viewport):
    app = live_server.app
    make_user(app, "olga")
    for n, kind in enumerate(["information", "contact", "ad", "ad", "information", "contact"]):
        make_submission(app, kind, title=f"Item {n + 1}: a realistic title of some length", telegram=f"sender_{n}x")
    page.set_viewport_size(DESKTOP if viewport == "desktop" else PHONE)
    sign_in(page, "olga")
    screenshot(page, f"queue-{viewport}")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.locator(".queue-row .row-title").first.click()
    expect(page.locator("#panel .item")).to_be_visible()
    expect(page.locator("#panel .claim")).to_contain_text("You are reviewing")
    screenshot(page, f"queue-open-{viewport}")
    assert page.problems == []


def test_on_a_phone_each_title_shows_whole_and_the_action_sits_below_it(page, live_server):
    """Issue 28: at 390×844 the queue cut titles to about 14 characters beside the button. Now the page does not
    scroll sideways, each title shows whole or wraps (no ellipsis), and each row's button is below its title."""
    app = live_server.app
    make_user(app, "olga")
    titles = [
        "Parcels with warm clothes refused at the colony window",
        "Electrician looking for work in Warsaw or nearby",
        "Room",
    ]
    for title, kind in zip(titles, ["information", "ad", "ad"], strict=True):
        make_submission(app, kind, title=title)
    page.set_viewport_size(PHONE)
    sign_in(page, "olga")
    screenshot(page, "queue-phone-titles")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    rows = page.locator(".queue-row")
    expect(rows).to_have_count(3)
    for index in range(3):
        row = rows.nth(index)
        title = row.locator(".title-text")
        assert title.inner_text() in titles  # the whole title, as it was written
        clipped = title.evaluate(
            "t => getComputedStyle(t).textOverflow === 'ellipsis' && t.scrollWidth > t.clientWidth"
        )
        assert not clipped, title.inner_text()
        title_box, button_box = title.bounding_box(), row.locator(".row-actions .button").bounding_box()
        assert button_box["y"] >= title_box["y"] + title_box["height"] - 1  # below the title, not beside it
    assert page.problems == []


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_moderator_asks_for_a_username_in_the_panel_and_sees_it_there_alone(page, live_server, viewport):
    """Issue 28: the panel shows the username masked; asking, with a reason, swaps in that line alone."""
    app = live_server.app
    make_reader(app, "olga")
    item, _ = make_submission(app, "information", title="Parcels refused", telegram="quiet_witness_77")
    page.set_viewport_size(DESKTOP if viewport == "desktop" else PHONE)
    sign_in(page, "olga")
    assert "quiet_witness_77" not in page.content()
    page.locator(f"#row-{item} .row-title").click()
    handle = page.locator(f"#handle-{item}")
    expect(handle).to_contain_text("q•••••••••••••••")
    assert "quiet_witness_77" not in page.content()
    handle.get_by_role("button", name="Show the username").click()
    expect(handle.locator(".error")).to_have_text("Choose why you need to see it.")
    handle.get_by_label("Why do you need it?").select_option("contact")
    handle.get_by_role("button", name="Show the username").click()
    expect(handle).to_contain_text("@quiet_witness_77")
    expect(page.locator("#panel .item-head")).to_be_visible()  # the panel stayed; only the line changed
    screenshot(page, f"reveal-{viewport}")
    assert page.problems == []
