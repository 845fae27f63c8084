"""Issue 29, item 1, as Tor Browser at "Safest" would do it: Chromium with JavaScript off sends a form with a photo to
the onion's host name (mapped to this machine), gets its receipt, and reads it at /status; the item waits in the
queue's tab "sent without the puzzle"."""

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import Submission
from tests import files
from tests.browser import CHROMIUM, CHROMIUM_ARGS, PHONE, LiveServer, screenshot, sign_in
from tests.helpers import make_app, make_user, staff_opener

pytestmark = [pytest.mark.e2e]

ONION_HOST = "prystanexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.onion"


@pytest.fixture
def onion(tmp_path):
    """The site served on 127.0.0.1, answering to the onion's name as the onion's nginx server hands it on."""
    # Tor Browser counts an onion address as a secure origin and keeps its Secure cookies over plain HTTP; Chromium
    # does not, so here the session cookie goes without the flag (the form session would otherwise be lost).
    app = make_app(
        tmp_path,
        WTF_CSRF_ENABLED=True,
        SESSION_COOKIE_SECURE=False,
        PUBLIC_URL="https://prystan.example",
        ONION_URL=f"http://{ONION_HOST}",
    )
    with app.app_context():
        db.drop_all()  # (on PostgreSQL the tests share one database)
        db.create_all()
    with LiveServer(app) as server:
        server.app = app
        yield server, f"http://{ONION_HOST}:{server.server.server_port}"
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def tor_browser(browser, url: str):
    """A Chromium of its own that resolves every .onion name to this machine and, as Tor Browser does, counts the
    onion as a secure origin (where the puzzle's SHA-256, crypto.subtle, exists)."""
    return browser.browser_type.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--host-resolver-rules=MAP *.onion 127.0.0.1",
            f"--unsafely-treat-insecure-origin-as-secure={url}",
        ],
    )


@pytest.fixture
def safest(browser, onion):
    """Tor Browser at "Safest": JavaScript off."""
    server, url = onion
    chromium = tor_browser(browser, url)
    context = chromium.new_context(viewport=PHONE, base_url=url, java_script_enabled=False)
    yield server, context.new_page()
    chromium.close()


def test_at_safest_a_form_with_a_photo_is_sent_on_the_onion_and_waits_apart(browser, safest, tmp_path):
    server, page = safest
    make_user(server.app, "olga")
    with server.app.app_context():
        staff_opener("olga")  # (she holds a key pair: what arrives is sealed to her too)
    photo = tmp_path / "parcel.jpg"
    photo.write_bytes(files.jpeg())

    page.goto("/submit/information")
    assert ONION_HOST in page.url
    page.get_by_label("What do you want to tell us?").fill("Parcels with warm clothes are sent back.")
    page.get_by_label("Your Telegram username").fill("@witness_one")
    page.locator('input[type="file"]').first.set_input_files(str(photo))
    page.get_by_role("button", name="Send").click()
    code = page.locator("#receipt-code").inner_text().strip()
    assert re.fullmatch(r"\d{4} \d{4} \d{4} \d{4}", code)
    screenshot(page, "receipt-onion-safest-phone")

    page.goto("/status")
    page.get_by_label("Receipt code").fill(code)
    page.get_by_role("button", name="Check", exact=True).click()
    expect(page.locator(".status-result")).to_contain_text("Waiting for moderation")

    with server.app.app_context():
        item = db.session.scalars(db.select(Submission)).one()
        assert item.unproved and len(item.attachments) == 1

    # A moderator, on the public address, finds it in the tab "sent without the puzzle", not in the queue.
    staff = browser.new_context(viewport=PHONE, base_url=f"http://127.0.0.1:{server.server.server_port}").new_page()
    sign_in(staff, "olga")
    expect(staff.locator(f"#row-{item.id}")).to_have_count(0)
    staff.get_by_role("link", name="Sent without the puzzle").click()
    expect(staff.locator(f"#row-{item.id}")).to_contain_text("Parcels with warm clothes are sent back.")
    assert staff.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(staff, "queue-unproved-phone")
    staff.context.close()


def test_at_safer_a_file_goes_ahead_on_the_onion_with_the_forms_answer(browser, onion, tmp_path):
    """With JavaScript, a file is sent ahead of its form on the onion only with the puzzle's answer, which the page
    finds first; the form then goes to the queue, not to the tab."""
    server, url = onion
    photo = tmp_path / "parcel.jpg"
    photo.write_bytes(files.jpeg())
    chromium = tor_browser(browser, url)
    try:
        page = chromium.new_context(viewport=PHONE, base_url=url).new_page()
        page.goto("/submit/information")
        page.get_by_label("What do you want to tell us?").fill("Parcels with warm clothes are sent back.")
        page.get_by_label("Your Telegram username").fill("@witness_one")
        page.locator('input[type="file"]').first.set_input_files(str(photo))
        expect(page.locator(".file-status")).to_have_text("Received and cleaned", timeout=30_000)
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#receipt-code")).to_be_visible()
    finally:
        chromium.close()
    with server.app.app_context():
        item = db.session.scalars(db.select(Submission)).one()
        assert not item.unproved and len(item.attachments) == 1
