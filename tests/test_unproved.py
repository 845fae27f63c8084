"""Issue 29, item 1: on the onion, a form or a report sent without the puzzle (Tor Browser at "Safest" runs no
JavaScript) is taken into the queue's tab "sent without the puzzle", one per form session per 10 minutes, and
refused only while that tab holds more than NOJS_QUARANTINE_MAX things. A refused send never reaches the sandbox.
Staff empty the tab in bulk."""

import io
import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from app.extensions import db
from app.models import Report, Submission, utcnow
from app.uploads import sandbox
from tests import files
from tests.helpers import (
    count,
    errors_in,
    make_submission,
    make_user,
    receipt_from,
    sign_in,
    solved_pow,
    staff_opener,
)
from tests.test_ads import publish
from tests.test_onion import ADDRESSES, ONION, PUBLIC
from tests.test_pow import form

CAPPED = ADDRESSES | {"NOJS_QUARANTINE_MAX": 2}
LIMITED = ADDRESSES | {"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "50 per hour"}


@pytest.fixture
def scrubs(monkeypatch) -> list[int]:
    """Every run of the sandbox with files to scrub, counted (the real one runs)."""
    runs: list[int] = []
    real = sandbox.run_jobs

    def counted(settings, jobs, **kwargs):
        if jobs:
            runs.append(len(jobs))
        return real(settings, jobs, **kwargs)

    monkeypatch.setattr(sandbox, "run_jobs", counted)
    return runs


@pytest.fixture
def approver(app) -> int:
    """A moderator holding a key pair, who publishes the ads of these tests."""
    user_id = make_user(app, "mira")
    with app.app_context():
        staff_opener("mira")
    return user_id


def with_photo(n: int, answer: str = "") -> dict:
    return form(n, answer) | {"attachments": [(io.BytesIO(files.jpeg()), f"photo{n}.jpg")]}


def send(client, data: dict, base_url: str = ONION):
    return client.post("/submit/information", data=data, base_url=base_url, content_type="multipart/form-data")


def flags(app) -> list[tuple[str, bool]]:
    with app.app_context():
        rows = db.session.execute(select(Submission.body, Submission.unproved).order_by(Submission.id)).all()
        return [(body, unproved) for body, unproved in rows]


def tab(moderator, more: str = "") -> str:
    return moderator.get("/moderation?view=unproved" + more).get_data(as_text=True)


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_on_the_onion_a_form_without_the_puzzle_is_taken_into_a_tab_of_its_own(app, client, moderator):
    visitor = app.test_client()
    taken = send(visitor, with_photo(1))
    assert taken.status_code == 200 and receipt_from(taken.text)
    # With the puzzle, and on the public address without it, a form goes to the queue as before.
    assert receipt_from(send(visitor, form(2, solved_pow(visitor))).text)
    assert receipt_from(send(visitor, form(3), base_url=PUBLIC).text)
    with app.app_context():
        held, proved, public = db.session.scalars(select(Submission).order_by(Submission.id)).all()
        assert (held.unproved, proved.unproved, public.unproved) == (True, False, False)
        assert len(held.attachments) == 1  # its photo was scrubbed and kept like any other
        held_id = held.id

    queue = moderator.get("/moderation").text
    assert f'id="row-{held_id}"' not in queue and "Sent without the puzzle" in queue
    waiting = tab(moderator)
    assert f'id="row-{held_id}"' in waiting and "Tor Browser at “Safest”" in waiting
    assert 'id="case-count-unproved">1<' in moderator.get("/moderation/counts").text

    # Read and taken on like any other item, it leaves the tab for good.
    assert moderator.post(f"/moderation/{held_id}/approve", data={"version": 1}).status_code in (200, 303)
    with app.app_context():
        assert db.session.get(Submission, held_id).unproved is False
    assert f'id="row-{held_id}"' not in tab(moderator)


@pytest.mark.parametrize("app_config", [CAPPED])
def test_past_the_tabs_cap_a_send_without_the_puzzle_is_refused_before_its_files_are_opened(app, scrubs):
    for n in range(3):  # the tab holds 0, 1, 2: not more than 2, so each is taken
        assert receipt_from(send(app.test_client(), with_photo(n)).text), n
    assert len(scrubs) == 3 and count(app, Submission) == 3

    refused = send(app.test_client(), with_photo(4))
    page = refused.text
    assert refused.status_code == 422
    assert "Too many forms and reports sent without JavaScript are waiting" in page
    assert "Text number 4" in page and "pow_tester" in page  # what was typed comes back
    assert "Choose your files again" in " ".join(errors_in(page))
    assert len(scrubs) == 3 and count(app, Submission) == 3  # the sandbox never ran for it, nothing was kept

    # With the puzzle solved, or on the public address, a form is still taken.
    visitor = app.test_client()
    assert receipt_from(send(visitor, with_photo(5, solved_pow(visitor))).text)
    assert receipt_from(send(visitor, with_photo(6), base_url=PUBLIC).text)
    assert len(scrubs) == 5


@pytest.mark.parametrize("app_config", [ADDRESSES | {"POW_REQUIRED": True}])
def test_a_send_refused_for_a_missing_puzzle_never_reaches_the_sandbox(app, client, scrubs):
    for base_url in (PUBLIC, ONION):
        refused = send(client, with_photo(1), base_url=base_url)
        assert refused.status_code == 422 and "solve a small puzzle" in refused.text
    assert scrubs == [] and count(app, Submission) == 0


@pytest.mark.parametrize("app_config", [LIMITED])
def test_a_form_session_sends_one_form_without_the_puzzle_per_ten_minutes(app, scrubs):
    first, second = app.test_client(), app.test_client()
    for visitor in (first, second):
        visitor.get("/submit/information", base_url=ONION)  # (the form page starts the form session)
    with time_machine.travel(utcnow(), tick=False) as clock:
        assert receipt_from(send(first, with_photo(1)).text)
        again = send(first, with_photo(2))
        assert again.status_code == 429 and "one form without JavaScript can be sent every 10 minutes" in again.text
        assert "Text number 2" in again.text and len(scrubs) == 1  # kept as typed, never scrubbed
        # Another visitor of the onion is not held up by the first one.
        assert receipt_from(send(second, form(3)).text)
        # A form with the puzzle solved is not counted against it.
        assert receipt_from(send(first, form(4, solved_pow(first))).text)
        clock.shift(timedelta(minutes=10, seconds=1))
        assert receipt_from(send(first, form(5)).text)
    assert [unproved for _body, unproved in flags(app)] == [True, True, False, True]


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_staff_empty_the_tab_by_rejecting_its_items_in_bulk(app, moderator):
    held = [make_submission(app, body=f"Sent at Safest {n}", unproved=True)[0] for n in range(3)]
    queued, _code = make_submission(app, body="Sent with the puzzle")
    assert "Reject the oldest 100 items of this tab as spam" not in tab(moderator, "&kind=contact")  # (filtered)
    emptied = moderator.post("/moderation/unproved/reject?view=unproved")
    assert emptied.status_code == 303 and "view=unproved" in emptied.headers["Location"]
    with app.app_context():
        for item_id in held:
            item = db.session.get(Submission, item_id)
            assert (item.status, item.reject_reason) == ("rejected", "spam")
        assert db.session.get(Submission, queued).status == "pending"  # the queue is left alone
    page = tab(moderator)
    assert "3 items rejected: Spam" in page and "Every item matching these filters has been reviewed" in page
    rejected = moderator.get("/moderation?status=rejected").text  # found under their status, like any other
    assert all(f'id="row-{item_id}"' in rejected for item_id in held)

    # Undone, they come back to the tab, not to the queue.
    assert moderator.post("/moderation/undo-batch?view=unproved").status_code == 303
    page = tab(moderator)
    assert all(f'id="row-{item_id}"' in page for item_id in held)
    queue = moderator.get("/moderation").text
    assert not any(f'id="row-{item_id}"' in queue for item_id in held) and f'id="row-{queued}"' in queue

    # Staff without the moderator's role cannot; nor can a visitor.
    editor = app.test_client()
    sign_in(editor, app, make_user(app, "ed", "editor"))
    for other in (editor, app.test_client()):
        assert other.post("/moderation/unproved/reject").status_code in (302, 303, 403, 404)
        assert other.post("/moderation/unproved/reports", data={"do": "dismiss_all"}).status_code in (
            302,
            303,
            403,
            404,
        )
    with app.app_context():
        assert db.session.get(Submission, held[0]).status == "pending"


@pytest.mark.parametrize("app_config", [ADDRESSES | {"REPORT_THRESHOLD": 1}])
def test_a_report_without_the_puzzle_waits_and_counts_only_once_a_moderator_counts_it(app, moderator, approver):
    ad_id, _code = publish(app, approver)
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        url, title = f"/ads/{ad.public_id}/report", ad.public_copy.title
    reader = app.test_client()
    sent = reader.post(url, data={"reason": "scam", "note": "Asks for money first"}, base_url=ONION)
    assert sent.status_code == 303
    with app.app_context():
        (report,) = db.session.scalars(select(Report)).all()
        assert report.unproved and db.session.get(Submission, ad_id).status == "approved"  # still on the site
        report_id = report.id

    waiting = tab(moderator)
    assert title in waiting and "Asks for money first" in waiting
    counted = moderator.post("/moderation/unproved/reports", data={"report": report_id, "do": "count"})
    assert counted.status_code == 303
    with app.app_context():
        assert db.session.get(Submission, ad_id).status == "pending"  # one counted report was the threshold
        assert not db.session.get(Report, report_id).unproved
    assert "Asks for money first" not in tab(moderator)


@pytest.mark.parametrize("app_config", [ADDRESSES | {"NOJS_QUARANTINE_MAX": 1}])
def test_reports_fill_a_part_of_the_tab_of_their_own_and_are_dismissed(app, moderator, approver):
    ad_id, _code = publish(app, approver)
    with app.app_context():
        url = f"/ads/{db.session.get(Submission, ad_id).public_id}/report"
    for _n in range(2):  # the tab holds 0, then 1 report: not more than 1
        assert app.test_client().post(url, data={"reason": "spam", "note": ""}, base_url=ONION).status_code == 303
    refused = app.test_client().post(url, data={"reason": "scam", "note": "Third"}, base_url=ONION)
    assert refused.status_code == 422 and "Too many forms and reports sent without JavaScript" in refused.text
    assert count(app, Report) == 2
    # A flood of reports does not stop a form.
    assert receipt_from(send(app.test_client(), form(1)).text)
    assert moderator.post("/moderation/unproved/reports", data={"do": "dismiss_all"}).status_code == 303
    assert count(app, Report) == 0 and "2 reports dismissed." in tab(moderator)


@pytest.mark.parametrize("app_config", [LIMITED])
def test_a_report_without_the_puzzle_shares_the_form_sessions_budget(app, approver):
    first, second = (publish(app, approver, title=f"Ad {n}")[0] for n in range(2))
    with app.app_context():
        urls = [f"/ads/{db.session.get(Submission, i).public_id}/report" for i in (first, second)]
    reader = app.test_client()
    reader.get(urls[0], base_url=ONION)  # (the report's page starts the form session)
    assert reader.post(urls[0], data={"reason": "spam", "note": ""}, base_url=ONION).status_code == 303
    again = reader.post(urls[1], data={"reason": "spam", "note": "Kept"}, base_url=ONION)
    assert again.status_code == 429 and "one form without JavaScript can be sent every 10 minutes" in again.text
    assert count(app, Report) == 1


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_on_the_onion_a_form_without_the_puzzle_that_comes_back_opens_no_file(app, client, scrubs):
    refused = send(client, with_photo(1) | {"body": ""})
    assert refused.status_code == 422 and "Choose your files again" in " ".join(errors_in(refused.text))
    assert scrubs == [] and "pow_tester" in refused.text  # what was typed comes back; the photo was never opened
    # On the public address the same form keeps its photo, scrubbed, for the next try.
    kept = send(client, with_photo(2) | {"body": ""}, base_url=PUBLIC)
    assert kept.status_code == 422 and "photo2.jpg" in kept.text and len(scrubs) == 1


@pytest.mark.parametrize("app_config", [ADDRESSES | {"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "1 per hour"}])
def test_only_a_form_taken_counts_toward_the_limit_on_forms_taken(app, client):
    back = send(client, with_photo(1) | {"body": ""}, base_url=PUBLIC)  # comes back, its photo kept
    (kept,) = re.findall(r'name="uploads" value="([^"]+)"', back.text)
    removed = client.post(
        "/submit/information", data=form(2) | {"uploads": kept, "remove_upload": kept}, base_url=PUBLIC
    )
    assert removed.status_code == 200 and "photo1.jpg" not in removed.text
    assert receipt_from(send(client, form(3), base_url=PUBLIC).text)  # the removal did not use up the one form
    assert send(client, form(4), base_url=PUBLIC).status_code == 429


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_on_the_onion_an_answer_at_status_needs_no_puzzle(app, client, moderator):
    item_id, code = make_submission(app)
    assert moderator.post(f"/moderation/{item_id}/message", data={"message": "Which colony?"}).status_code == 303
    visitor = app.test_client()
    answered = visitor.post("/status/reply", data={"code": code, "reply": "Colony number 3."}, base_url=ONION)
    assert answered.status_code == 200 and "Your answer is sent." in answered.text


@pytest.mark.parametrize("app_config", [ADDRESSES | {"RATELIMIT_ENABLED": True, "UPLOAD_MAX_FILES": 2}])
def test_on_the_onion_a_file_sent_ahead_needs_the_forms_answer(app, client, scrubs):
    """A resumable upload would reach the sandbox with no puzzle: on the onion it carries the form's answer, good
    for as many files as one form carries (the page sends a file without it with the form instead)."""
    from tests.test_resumable import TUS, b64

    client.get("/submit/information", base_url=ONION)

    def create(**headers):
        metadata = {"Upload-Length": "1000", "Upload-Metadata": f"filename {b64('photo.jpg')}"}
        return client.post("/uploads", headers=TUS | metadata | headers, base_url=ONION)

    refused = create()
    assert refused.status_code == 429 and "it goes with the form" in refused.text
    assert create(**{"X-Prystan-Pow": "not an answer"}).status_code == 429
    answer = solved_pow(client)
    assert [create(**{"X-Prystan-Pow": answer}).status_code for _ in range(3)] == [201, 201, 429]
    # On the public address an upload needs no answer (its limits count the address).
    client.get("/submit/information", base_url=PUBLIC)  # (its own form session: the cookie is the host's)
    metadata = {"Upload-Length": "1000", "Upload-Metadata": f"filename {b64('photo.jpg')}"}
    assert client.post("/uploads", headers=TUS | metadata, base_url=PUBLIC).status_code == 201
    assert scrubs == []


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_on_the_onion_a_form_without_the_puzzle_with_a_bad_file_opens_none(app, client, scrubs):
    data = form(1) | {
        "attachments": [(io.BytesIO(files.jpeg()), "good.jpg"), (io.BytesIO(b"not a photo at all"), "bad.jpg")]
    }
    refused = client.post("/submit/information", data=data, base_url=ONION, content_type="multipart/form-data")
    assert refused.status_code == 422 and "Choose your files again" in " ".join(errors_in(refused.text))
    assert scrubs == [] and count(app, Submission) == 0


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_a_form_sent_again_is_not_scrubbed_again(app, client, scrubs):
    assert receipt_from(send(client, with_photo(1), base_url=PUBLIC).text) and len(scrubs) == 1
    again = send(client, with_photo(1), base_url=PUBLIC)
    assert again.status_code == 200 and receipt_from(again.text) is None  # the page that says it was sent already
    assert len(scrubs) == 1 and count(app, Submission) == 1


ONION_SCRUBS = ADDRESSES | {"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "50 per hour"}


@pytest.mark.parametrize("app_config", [ONION_SCRUBS | {"NOJS_ONION_SCRUB_RATELIMIT": "2 per hour"}])
def test_files_sent_on_the_onion_without_the_puzzle_reach_the_sandbox_at_most_so_often_site_wide(app, scrubs):
    def visitor():
        new = app.test_client()
        new.get("/submit/information", base_url=ONION)
        return new

    assert receipt_from(send(visitor(), with_photo(1)).text)
    bad = form(2) | {"attachments": [(io.BytesIO(files.jpeg()), "a.jpg"), (io.BytesIO(files.jpeg()[:200]), "b.jpg")]}
    assert visitor().post("/submit/information", data=bad, base_url=ONION).status_code == 422  # scrubbed, not stored
    assert len(scrubs) == 2
    stopped = send(visitor(), with_photo(3))  # a third visitor: the onion's budget is spent
    assert stopped.status_code == 429 and "Too many forms with files were sent without JavaScript" in stopped.text
    assert "Text number 3" in stopped.text and len(scrubs) == 2
    assert receipt_from(send(visitor(), form(4)).text)  # without files, a form is still taken
    sender = visitor()
    assert receipt_from(send(sender, with_photo(5, solved_pow(sender))).text)  # with the puzzle, as anywhere
    assert len(scrubs) == 3


@pytest.mark.parametrize("app_config", [ADDRESSES])
def test_an_ad_of_the_tab_edited_by_its_owner_goes_to_the_queue(app, client):
    from tests.test_ads import owner_edit

    ad_id, code = make_submission(app, "ad", unproved=True, status="rejected", reject_reason="needs_changes")
    assert owner_edit(client, code).status_code == 200
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        assert (ad.status, ad.unproved) == ("pending", False)
