"""On a bad connection, in Chromium: three files (one a video) sent one by one with their own progress bars; the
connection cut once in the middle of the video, through a TCP proxy, and the upload going on from where it
stopped; a mistyped username corrected without choosing the files again; the three clean files in the queue. Then
a video through the plain form, with JavaScript off."""

import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment
from tests import files, media
from tests.browser import DESKTOP, PHONE, screenshot
from tests.helpers import PASSWORD, staff_opener, stored_plain
from tests.proxy import CuttingProxy
from tests.test_uploads import assert_clean

pytestmark = [pytest.mark.e2e, pytest.mark.once]

# Every text a file's status line showed, in order (the page cannot be asked afterwards what it said before).
WATCH_STATUS = """
window.__statuses = [];
new MutationObserver(records => records.forEach(r => {
  const line = r.target.nodeType === 3 ? r.target.parentElement : r.target;
  if (line && line.classList && line.classList.contains("file-status")) window.__statuses.push(line.textContent);
})).observe(document, {subtree: true, childList: true, characterData: true});
"""


def person(browser, base_url: str, js: bool = True, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, base_url=base_url, java_script_enabled=js)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on("request", lambda r: r.url.startswith(base_url) or page.problems.append(f"foreign: {r.url}"))
    return page


def review(browser, live_server, names: list[str]):
    """A moderator opens the item (olga, made when the test read the files' names): every file is there, photos and
    the video with a preview, none played."""
    staff = person(browser, live_server.url)
    staff.goto("/auth/login")
    staff.get_by_label("Username").fill("olga")
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_role("button", name="Sign in").click()
    expect(staff).to_have_url(re.compile(r"/moderation$"))
    staff.locator(".queue-row .row-title").first.click()
    expect(staff).to_have_url(re.compile(r"/moderation(/\d+)?$"))
    staff.goto(staff.locator(".queue-row .row-title").first.get_attribute("href"))
    expect(staff.locator(".attachments-list .file-name")).to_have_text(names)
    expect(staff.locator(".attachments-list img")).to_have_count(len(names))  # previews, the video's poster too
    expect(staff.locator("video, audio")).to_have_count(0)
    screenshot(staff, "resumable-review-desktop")
    staff.context.close()


def check_clean(app) -> list[Attachment]:
    with app.app_context():
        stored = list(db.session.scalars(select(Attachment).order_by(Attachment.id)))
        db.session.expunge_all()
    for attachment in stored:
        path = stored_plain(app, attachment.storage_key)
        if attachment.content_type.startswith("video/"):
            probed = media.probe(path)
            assert [s["codec_type"] for s in probed["streams"]] == ["video", "audio"]
            assert media.SECRET.encode() not in Path(path).read_bytes()
            assert not any("GPS" in k for k in media.exif(path))
        else:
            assert_clean(path)
    return stored


def names_of(app, stored: list[Attachment]) -> list[str]:
    """The files' original names, sealed to their item: as the moderator opens them."""
    with app.app_context():
        opener = staff_opener()
        return [opener.attachment(db.session.merge(a, load=False))[0] for a in stored]


def test_three_files_one_cut_resumed_a_mistake_corrected_and_all_clean_in_the_queue(browser, live_server, tmp_path):
    media.need_tools()
    app = live_server.app
    video = media.sized_video(str(tmp_path), 6)  # three 2 MB chunks
    street, letter = tmp_path / "street.jpg", tmp_path / "letter.pdf"
    street.write_bytes(files.jpeg(orientation=6))
    letter.write_bytes(files.hostile_pdf())
    port = int(live_server.url.rsplit(":", 1)[1])
    proxy = CuttingProxy(port, cut_at=3 * 2**20 + 300_000)  # in the middle of the video's second chunk
    page = person(browser, proxy.url)
    page.add_init_script(WATCH_STATUS)

    page.goto("/submit/information")
    page.get_by_label("What do you want to tell us?").fill("The notice at the gate, and a video of the search.")
    page.get_by_label("Your Telegram username").fill("+375 29 123 45 67")  # a phone number: refused
    page.get_by_label("Files (optional)").set_input_files([str(street), video, str(letter)])
    expect(page.locator(".upload-list progress.file-progress")).to_have_count(3)
    screenshot(page, "resumable-progress-desktop")
    expect(page.locator(".upload-list li.done")).to_have_count(3, timeout=60_000)
    assert proxy.cut  # the connection was cut once, mid-PATCH...
    statuses = page.evaluate("window.__statuses")
    assert "Connection lost: sending again from where it stopped…" in statuses  # ...the page said so...
    assert statuses[-1] == "Received and cleaned" or "Received and cleaned" in statuses
    page.set_viewport_size(PHONE)
    screenshot(page, "resumable-done-phone")
    page.set_viewport_size(DESKTOP)

    page.get_by_role("button", name="Send").click()
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page.locator(".kept-list li")).to_have_count(3)  # ...and the files stayed through the error
    expect(page.locator(".kept-list")).to_contain_text("evidence.mp4")
    assert "please choose them again" not in page.content()
    screenshot(page, "resumable-kept-after-error-desktop")
    page.get_by_label("Your Telegram username").fill("witness_three")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#receipt-code")).to_have_text(re.compile(r"\d{4} \d{4} \d{4} \d{4}"))
    assert page.problems == []
    page.context.close()
    proxy.close()

    stored = check_clean(app)
    assert sorted(names_of(app, stored)) == ["evidence.mp4", "letter.pdf", "street.jpg"]
    assert {a.content_type for a in stored} == {"image/jpeg", "application/pdf", "video/mp4"}
    review(browser, live_server, names_of(app, stored))
    assert os.listdir(app.config["RESUMABLE_DIR"]) == [] or all(
        not os.listdir(os.path.join(app.config["RESUMABLE_DIR"], d)) for d in os.listdir(app.config["RESUMABLE_DIR"])
    )  # nothing left waiting


def test_a_video_through_the_plain_form_without_javascript(browser, live_server, tmp_path):
    media.need_tools()
    app = live_server.app
    video = media.iphone_mov(str(tmp_path))
    page = person(browser, live_server.url, js=False)
    page.goto("/submit/information")
    page.get_by_label("What do you want to tell us?").fill("A video of the search, from my phone.")
    page.get_by_label("Your Telegram username").fill("x")  # too short: refused, the video kept
    page.get_by_label("Files (optional)").set_input_files([video])
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".kept-list li")).to_have_count(1)
    expect(page.locator(".kept-list")).to_contain_text("IMG_0001.mov")
    page.set_viewport_size(PHONE)
    screenshot(page, "resumable-nojs-kept-phone")
    page.set_viewport_size(DESKTOP)
    page.get_by_label("Your Telegram username").fill("witness_four")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#receipt-code")).to_have_text(re.compile(r"\d{4} \d{4} \d{4} \d{4}"))
    screenshot(page, "resumable-nojs-receipt-desktop")
    (stored,) = check_clean(app)
    assert (names_of(app, [stored])[0], stored.content_type, stored.previews) == ("IMG_0001.mov", "video/quicktime", 1)
    assert json.loads(json.dumps(page.problems)) == []
    page.context.close()


def test_a_file_the_server_will_not_take_ahead_goes_with_the_form_and_the_page_says_so(browser, live_server, tmp_path):
    """The server's room for waiting files is nearly full: the small photo goes ahead, the large one is refused
    ahead (503) and goes with the form; the person is told, sends, and both arrive clean."""
    import io

    from PIL import Image

    app = live_server.app
    app.config["RESUMABLE_MAX_PENDING_MB"] = 1
    street, crowd = tmp_path / "street.jpg", tmp_path / "crowd.jpg"
    street.write_bytes(files.jpeg(orientation=6))
    noisy = io.BytesIO()  # more than the 1 MB: pixels that do not compress, with the camera's EXIF
    pixels = Image.frombytes("RGB", (1200, 1200), os.urandom(1200 * 1200 * 3))
    pixels.save(noisy, "JPEG", quality=95, exif=files.exif(6))
    crowd.write_bytes(noisy.getvalue())
    assert 2**20 < len(noisy.getvalue()) < app.config["UPLOAD_MAX_FILE_MB"] * 2**20
    page = person(browser, live_server.url)
    page.goto("/submit/information")
    page.get_by_label("What do you want to tell us?").fill("Two photos of the queue at the gate.")
    page.get_by_label("Your Telegram username").fill("witness_five")
    page.get_by_label("Files (optional)").set_input_files([str(street), str(crowd)])
    expect(page.locator(".upload-list li.done")).to_have_count(1, timeout=30_000)
    plain = page.locator(".upload-list li.plain")
    expect(plain).to_have_count(1)
    expect(plain).to_contain_text("crowd.jpg")
    expect(plain.locator(".file-status")).to_have_text(
        "The site cannot take this file ahead right now: it goes with the form when you send it."
    )
    expect(page.locator(".upload-counter")).to_have_text("2 / 10")
    screenshot(page, "resumable-fallback-desktop")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#receipt-code")).to_have_text(re.compile(r"\d{4} \d{4} \d{4} \d{4}"))
    assert page.problems == []
    page.context.close()
    stored = check_clean(app)
    assert sorted(names_of(app, stored)) == ["crowd.jpg", "street.jpg"]


STATE_URL = re.compile(r".*/uploads/[0-9a-f]{32}$")


def choose_photo(page, tmp_path, name: str = "street.jpg"):
    page.goto("/submit/information")
    page.get_by_label("What do you want to tell us?").fill("A photo of the notice at the gate.")
    page.get_by_label("Your Telegram username").fill("witness_six")
    photo = tmp_path / name
    photo.write_bytes(files.jpeg(orientation=6))
    page.get_by_label("Files (optional)").set_input_files(str(photo))


def sent_with_receipt(page, app, names: list[str]):
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#receipt-code")).to_have_text(re.compile(r"\d{4} \d{4} \d{4} \d{4}"))
    assert page.problems == []
    page.context.close()
    assert sorted(names_of(app, check_clean(app))) == names


def test_a_lost_answer_about_a_files_state_is_asked_again(browser, live_server, tmp_path):
    """nginx answers one request with its own 502 page while the app restarts: the row does not stay at "100%
    sent" for ever; the page asks again, and the file is received."""
    page = person(browser, live_server.url)
    lost = []

    def restarting(route):
        if route.request.method == "GET" and not lost:
            lost.append(route.request.url)
            route.fulfill(status=502, body="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
        else:
            route.fallback()

    page.route(STATE_URL, restarting)
    choose_photo(page, tmp_path)
    expect(page.locator(".upload-list li.done")).to_have_count(1, timeout=20_000)
    assert lost
    sent_with_receipt(page, live_server.app, ["street.jpg"])


def gateway_down_for_state(route):
    if route.request.method == "GET":
        route.fulfill(status=502, body="<html><body>502 Bad Gateway</body></html>", content_type="text/html")
    else:
        route.fallback()


def test_a_state_that_never_comes_ends_in_a_message_and_a_retry_button(browser, live_server, tmp_path):
    page = person(browser, live_server.url)
    page.clock.install()
    page.route(STATE_URL, gateway_down_for_state)
    choose_photo(page, tmp_path)
    row = page.locator(".upload-list li")
    expect(row).to_have_class(re.compile(r"\bretrying\b"), timeout=20_000)  # asked again, and again...
    page.clock.fast_forward("11:00")  # ...for ten minutes
    expect(row).to_have_class(re.compile(r"\bfailed\b"), timeout=20_000)
    expect(row.locator(".file-status")).to_have_text(
        "The site has not said whether this file arrived clean. Check your connection and try again."
    )
    page.unroute(STATE_URL)
    row.get_by_role("button", name="Try again").click()
    expect(page.locator(".upload-list li.done")).to_have_count(1, timeout=20_000)
    sent_with_receipt(page, live_server.app, ["street.jpg"])


def test_an_upload_refused_for_room_while_resuming_tries_again_before_going_with_the_form(
    browser, live_server, tmp_path
):
    """A PATCH answered 503 (the server's room for waiting files was taken while this upload was idle): the page
    tries again later, and the file goes ahead, not with the form."""
    page = person(browser, live_server.url)
    busy = []

    def room_taken(route):
        if route.request.method == "PATCH" and not busy:
            busy.append(1)
            route.fulfill(status=503, body="busy", headers={"Tus-Resumable": "1.0.0", "Content-Type": "text/plain"})
        else:
            route.fallback()

    page.route(STATE_URL, room_taken)
    choose_photo(page, tmp_path)
    expect(page.locator(".upload-list li.done")).to_have_count(1, timeout=20_000)
    expect(page.locator(".upload-list li.plain")).to_have_count(0)
    assert busy
    sent_with_receipt(page, live_server.app, ["street.jpg"])
