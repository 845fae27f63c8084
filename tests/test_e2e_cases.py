"""A case from first question to deletion, in Chromium, as a submitter and two moderators would: a moderator asks a
question; the submitter answers with a photo at /status; a second moderator takes the case on, adds a note and marks
it done, forgetting the contact; `flask purge` later removes it. Once with JavaScript, once without, in three
languages."""

import os
import re
from datetime import timedelta

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import expect

from app.extensions import db
from app.models import Submission, utcnow
from tests import files
from tests.browser import DESKTOP, PHONE, screenshot
from tests.helpers import PASSWORD, make_reader

pytestmark = [pytest.mark.e2e, pytest.mark.once]

QUESTION = "Which court is the hearing in, and on what day?"
ANSWER = "The district court, on the 14th. The summons is in the photo."
NOTE = "Our lawyer can attend; she will call the family."


def say(app, locale: str, text: str, **values) -> str:
    """What the site says in ``locale`` (the test reads the page as its reader would)."""
    with app.test_request_context(), force_locale(locale):
        return gettext(text, **values)


def person(browser, live_server, locale: str, js: bool, viewport=DESKTOP):
    context = browser.new_context(viewport=viewport, base_url=live_server.url, locale=locale, java_script_enabled=js)
    page = context.new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"script error: {error}"))
    page.on("request", lambda r: r.url.startswith(live_server.url) or page.problems.append(f"foreign: {r.url}"))
    return page


def sign_in(page, username: str) -> None:
    page.goto("/auth/login")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/moderation$"))
    page.wait_for_load_state("load")


def open_item(page, item_id: int, js: bool, view: str = ""):
    """The item as a moderator reaches it: from the queue into the side panel, or its own page without JavaScript."""
    page.goto(f"/moderation{'?view=' + view if view else ''}")
    page.locator(f"#row-{item_id} .row-title").click()
    if js:
        expect(page.locator(f"#panel #item-{item_id}")).to_be_visible()
        return page.locator("#panel")
    expect(page).to_have_url(re.compile(rf"/moderation/{item_id}$"))
    return page.locator(".item-page")


def read_receipt(page) -> str:
    return page.locator("#receipt-code").inner_text().strip()


def check_status(page, code: str):
    page.goto("/status")
    page.locator("input[name=code]").fill(code)
    page.locator(".status-form button[type=submit]").click()


@pytest.mark.parametrize(
    ("js", "locales"),
    [
        (True, {"submitter": "be", "olga": "en", "ivan": "en"}),
        (False, {"submitter": "ru", "olga": "be", "ivan": "en"}),
    ],
    ids=["with JavaScript", "without JavaScript"],
)
def test_question_answer_case_done_and_purged(browser, live_server, tmp_path, js, locales):
    app = live_server.app
    make_reader(app, "olga")
    make_reader(app, "ivan")
    suffix = "js" if js else "nojs"
    submitter = person(browser, live_server, locales["submitter"], js)
    olga = person(browser, live_server, locales["olga"], js)
    ivan = person(browser, live_server, locales["ivan"], js)
    s_lang, o_lang, i_lang = locales["submitter"], locales["olga"], locales["ivan"]

    # The submitter sends a tip.
    submitter.goto("/submit/information")
    submitter.locator("textarea[name=body]").fill("My brother's hearing was moved and nobody told the family.")
    submitter.locator("input[name=telegram]").fill("sister_of_v")
    submitter.locator("form.submit-form button[type=submit]").click()
    code = read_receipt(submitter)
    expect(submitter.locator(".receipt-page")).to_contain_text(
        say(
            app,
            s_lang,
            "If we have a question, we may ask it on the status page, where only this code opens it: your Telegram "
            "username is not our only way to reach you. Check the status page from time to time; you can answer there.",
        )
    )
    with app.app_context():
        item_id = db.session.scalar(db.select(Submission.id))

    # Olga asks a question; the message box warns her who reads it.
    sign_in(olga, "olga")
    item = open_item(olga, item_id, js)
    hint = (
        "Anyone who holds the receipt code reads what you write here, and it may not be the sender. Name no one and "
        "no place. The sender answers the same way."
    )
    expect(item).to_contain_text(say(app, o_lang, hint))
    item.locator("textarea[name=message]").fill(QUESTION)
    item.locator("form.message-form button[type=submit]").click()
    expect(item.locator(".messages")).to_contain_text(QUESTION)
    expect(olga.locator("main")).to_contain_text(
        say(app, o_lang, "The message is sent. The sender reads it with the receipt code.")
    )
    if js:  # closing the panel gives the item back at once (it was held for her review while open)
        with olga.expect_response(re.compile(rf"/moderation/{item_id}/release$")):
            item.locator("[data-close-panel]").click()

    # The submitter reads it at /status and answers with a photo that carries GPS.
    check_status(submitter, code)
    expect(submitter.locator(".thread")).to_contain_text(QUESTION)
    expect(submitter.locator(".thread")).to_contain_text(say(app, s_lang, "Our team"))
    expect(submitter.locator(".thread")).not_to_contain_text("olga")
    photo = tmp_path / "summons.jpg"
    photo.write_bytes(files.jpeg())
    submitter.locator("textarea[name=reply]").fill(ANSWER)
    submitter.locator(".reply-form input[type=file]").set_input_files(str(photo))
    screenshot(submitter, f"case-status-answer-{suffix}-desktop")
    submitter.locator(".reply-form button[type=submit]").click()
    expect(submitter.locator(".status-page")).to_contain_text(
        say(app, s_lang, "Your answer is sent. Our team will read it; check this page again later for more.")
    )
    expect(submitter.locator(".thread")).to_contain_text(ANSWER)
    submitter.set_viewport_size(PHONE)
    screenshot(submitter, f"case-status-thread-{suffix}-phone")

    # Ivan finds the answer under "New answers", takes the item on, notes and closes the case, forgetting the contact.
    sign_in(ivan, "ivan")
    ivan.goto("/moderation?view=answers")
    expect(ivan.locator(f"#row-{item_id}")).to_contain_text(say(app, i_lang, "new answer"))
    item = open_item(ivan, item_id, js, view="answers")
    expect(item.locator(".messages")).to_contain_text(ANSWER)
    expect(item.locator(".messages")).to_contain_text("summons.jpg")
    expect(item.locator(".messages img")).to_be_visible()  # the clean preview of the photo
    screenshot(ivan, f"case-item-answered-{suffix}-desktop")
    item.locator(f"#approve-{item_id} button").click()
    if js:
        taken = say(app, i_lang, "Taken on as a case: %(title)s", title="My brother's hearing was moved")
        expect(ivan.locator(f"#row-{item_id}")).to_contain_text(taken)
    item = open_item(ivan, item_id, js, view="mine")
    expect(item.locator("select[name=assignee]")).to_have_value(str(ivan_id(app)))
    item.locator("textarea[name=internal_note]").fill(NOTE)
    item.locator("form.note-form button[type=submit]").click()
    expect(item.locator(".notes-list")).to_contain_text(NOTE)
    item.locator("form.done-form input[name=forget]").check()
    screenshot(ivan, f"case-item-done-form-{suffix}-desktop")
    item.locator("form.done-form button[type=submit]").click()
    expect(ivan.locator("main")).to_contain_text(
        say(app, i_lang, "The case is done and the Telegram username is forgotten.")
    )
    expect(item.locator(".facts")).not_to_contain_text("sister_of_v")
    ivan.set_viewport_size(PHONE)
    screenshot(ivan, f"case-item-done-{suffix}-phone")
    ivan.set_viewport_size(DESKTOP)

    # The note never reaches the submitter; the case is finished for them too.
    check_status(submitter, code)
    expect(submitter.locator(".status-result")).to_contain_text(
        say(app, s_lang, "Our team has finished following it up. Thank you.")
    )
    expect(submitter.locator(".status-result")).not_to_contain_text(NOTE)
    expect(submitter.locator("textarea[name=reply]")).to_have_count(0)

    # Ninety-one days later, `flask purge` removes it with its files, messages and note.
    with app.app_context():
        case = db.session.get(Submission, item_id)
        assert case.telegram is None and case.done_at is not None
        case.done_at = utcnow() - timedelta(days=app.config["CASE_RETENTION_DAYS"] + 1)
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["purge"])
    assert result.exit_code == 0 and "Purged 1 submissions, 1 files" in result.output
    assert os.listdir(app.config["STORAGE_URL"]) == []
    check_status(submitter, code)
    expect(submitter.locator(".status-page")).to_contain_text(
        say(app, s_lang, "No submission matches this code. Check the digits and try again.")
    )
    ivan.goto(f"/moderation/{item_id}")
    expect(ivan.locator("body")).not_to_contain_text(ANSWER)
    for page in (submitter, olga, ivan):
        assert page.problems == []
        page.context.close()


def ivan_id(app) -> int:
    from app.models import User

    with app.app_context():
        return db.session.scalar(db.select(User.id).where(User.username == "ivan"))
