"""A moderator in Chromium sets up two-step sign-in by typing the key, keeps the recovery codes, and signs in with
the app's code; a reader reports an ad on its own page."""

import re

import pyotp
import pytest
from playwright.sync_api import expect

from tests.browser import screenshot, sign_in
from tests.helpers import PASSWORD, make_user
from tests.test_ads import publish

pytestmark = [pytest.mark.e2e, pytest.mark.once]


def test_two_step_sign_in_set_up_by_typing_the_key(page, browser, live_server):
    make_user(live_server.app, "olga")
    sign_in(page, "olga")
    page.goto("/auth/totp")
    key = page.locator("code.totp-key").inner_text()
    assert re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{1,4})+", key)  # in groups, for typing into a phone
    screenshot(page, "totp-setup-desktop")
    page.get_by_label("Code from the app").fill(pyotp.TOTP(key.replace(" ", "")).now())
    page.get_by_label("Your password").fill(PASSWORD)
    page.get_by_role("button", name="Turn on").click()
    expect(page.get_by_role("heading", name="Two-step sign-in is on")).to_be_visible()
    expect(page.locator(".recovery-codes li")).to_have_count(10)
    screenshot(page, "totp-recovery-codes-desktop")

    other = browser.new_context(base_url=live_server.url).new_page()
    other.goto("/auth/login")
    other.get_by_label("Username").fill("olga")
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_role("button", name="Sign in").click()
    expect(other.locator("#error-summary")).to_be_visible()  # no code: refused
    recovery = page.locator(".recovery-codes li").first.inner_text()
    other.get_by_label("Password").fill(PASSWORD)
    other.get_by_label(re.compile("One-time code")).fill(recovery)
    other.get_by_role("button", name="Sign in").click()
    expect(other).to_have_url(re.compile(r"/moderation$"))
    assert page.problems == []


def test_a_reader_reports_an_ad_on_its_own_page(page, live_server):
    app = live_server.app
    ad_id, _ = publish(app, make_user(app, "mira"), title="Too good to be true")
    with app.app_context():
        from app.extensions import db
        from app.models import Submission

        public = db.session.get(Submission, ad_id).public_id
    page.goto(f"/ads/{public}-too-good-to-be-true")
    assert page.context.cookies() == []  # reading the ad set no cookie
    page.get_by_role("link", name="Report this ad").click()
    page.get_by_role("button", name="Send the report").click()
    expect(page.locator("#error-summary")).to_be_visible()
    screenshot(page, "report-errors-desktop")
    page.get_by_label("It asks for money or looks like fraud").check()
    page.get_by_role("button", name="Send the report").click()
    expect(page.get_by_text("Thank you. A moderator will look at this ad.")).to_be_visible()
    expect(page).to_have_url(live_server.url + "/ads")  # the report's page gave its history entry to the list
    assert page.problems == []
