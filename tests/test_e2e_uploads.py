"""A visitor attaches photos in Chromium; a moderator sees scrubbed previews and downloads one."""

import re

import pytest
from playwright.sync_api import expect

from app.models import Attachment
from tests import files
from tests.browser import screenshot
from tests.helpers import PASSWORD, count, make_user

pytestmark = [pytest.mark.e2e, pytest.mark.once]


def test_choose_three_remove_one_send_and_review(page, browser, live_server, tmp_path):
    chosen = {"street.jpg": files.jpeg(orientation=6), "poster.png": files.png(), "letter.pdf": files.hostile_pdf()}
    paths = []
    for name, data in chosen.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))

    page.goto("/submit/information")
    page.get_by_label("What do you want to tell us?").fill("Photos of the notice at the colony gate.")
    page.get_by_label("Your Telegram username").fill("witness_two")
    page.get_by_label("Files (optional)").set_input_files(paths)
    expect(page.locator(".upload-counter")).to_have_text("3 / 10")
    expect(page.locator(".upload-list li")).to_have_count(3)
    screenshot(page, "upload-chosen-desktop")
    page.get_by_role("button", name="Remove poster.png").click()
    expect(page.locator(".upload-counter")).to_have_text("2 / 10")
    expect(page.locator(".upload-list li.done")).to_have_count(2)  # each sent, scrubbed, and in the form
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#receipt-code")).to_have_text(re.compile(r"\d{4} \d{4} \d{4} \d{4}"))
    assert count(live_server.app, Attachment) == 2

    make_user(live_server.app, "olga")
    page.goto("/auth/login")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/moderation$"))
    page.wait_for_load_state("load")  # the queue's script is ready: the row opens in the side panel
    page.locator(".queue-row .row-title").first.click()
    expect(page.locator("#panel img")).to_have_count(2)  # the photo's preview and the PDF's first page
    preview = page.get_by_role("img", name="Preview of street.jpg")
    page_one = page.get_by_role("img", name="Page 1 of letter.pdf")
    for image in (page_one, preview):  # loaded (lazily, each a request of its own), and a real picture
        page.wait_for_function("img => img.complete", arg=image.element_handle())
        assert page.evaluate("img => img.naturalWidth > 0", image.element_handle())
    # The photo was turned upright by its orientation tag: portrait, not landscape.
    assert page.evaluate("img => img.naturalHeight > img.naturalWidth", preview.element_handle())
    expect(page.locator("#panel .file-name")).to_have_text(["street.jpg", "letter.pdf"])
    screenshot(page, "upload-review-desktop")
    with page.expect_download() as download:
        page.locator("#panel .file-name", has_text="letter.pdf").click()
    saved = tmp_path / "downloaded.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "letter.pdf"
    assert saved.read_bytes().startswith(b"%PDF") and files.SECRET_TEXT.encode() not in saved.read_bytes()
    assert page.problems == []


def test_the_widget_refuses_what_the_server_would_refuse(page, tmp_path):
    (tmp_path / "notes.txt").write_text("plain text")
    (tmp_path / "ok.jpg").write_bytes(files.jpeg())
    page.goto("/submit/ad")
    page.get_by_label("Files (optional)").set_input_files([str(tmp_path / "notes.txt"), str(tmp_path / "ok.jpg")])
    expect(page.locator(".upload-problems")).to_contain_text(
        "notes.txt is not a photo (JPEG, PNG, WebP, GIF, HEIC, TIFF)"
    )
    expect(page.locator(".upload-counter")).to_have_text("1 / 10")
    assert page.problems == []
