"""The private thread through the receipt: staff write, the submitter reads and answers at /status, with files
through the same intake; nothing of it without the receipt; deleted with the item."""

import io
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Attachment, Event, Message, Submission
from tests import files
from tests.helpers import count, errors_in, hx, make_submission, make_user, receipt_from, sign_in, stored_plain
from tests.test_cases import events, load, row_ids, take_on
from tests.test_status import NOT_FOUND
from tests.test_uploads import assert_clean


@pytest.fixture
def submitter(app):
    """The person with the receipt: a browser of their own (the `moderator` fixture signs `client` in)."""
    return app.test_client()


QUESTION = "Can you tell us which colony he was moved to?"


def write(client, item_id, text=QUESTION, **kwargs):
    return client.post(f"/moderation/{item_id}/message", data={"message": text}, **kwargs)


def answer(client, code, text="Colony number 3, in the north.", attachments=()):
    data = {"code": code, "reply": text, "attachments": list(attachments)}
    return client.post("/status/reply", data=data, content_type="multipart/form-data")


def status_of(client, code) -> str:
    return client.post("/status", data={"code": code}).get_data(as_text=True)


def test_staff_write_and_the_submitter_reads_and_answers_with_a_photo(app, moderator, submitter, tmp_path):
    item_id, code = make_submission(app)
    page = moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert 'name="message"' in page
    assert "Anyone who holds the receipt code reads what you write here" in page
    assert write(moderator, item_id).status_code == 303
    assert ("messaged", "") in events(app, item_id)
    status = status_of(submitter, code)
    assert QUESTION in status and "Our team" in status and "olga" not in status  # no staff name for the sender
    assert 'name="reply"' in status and 'enctype="multipart/form-data"' in status
    photo = (io.BytesIO(files.jpeg()), "where.jpg")
    response = answer(submitter, code, attachments=[photo])
    assert response.status_code == 200
    assert "Your answer is sent." in response.get_data(as_text=True)
    assert "Colony number 3" in response.get_data(as_text=True)
    with app.app_context():
        message = db.session.scalars(select(Message).where(Message.from_staff.is_(False))).one()
        assert message.created_at.time().isoformat() == "00:00:00"  # the day only, as for the audit log
        (attachment,) = message.attachments
        assert attachment.submission_id == item_id and attachment.content_type == "image/jpeg"
        key = attachment.storage_key
        assert db.session.get(Submission, item_id).new_answer
    assert_clean(stored_plain(app, key))  # scrubbed like a form's file: no GPS, no camera
    item = moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert "Colony number 3" in item and "where.jpg" in item and "new answer" in item
    assert ("answered", "") in events(app, item_id)


def test_answers_are_listed_under_new_answers_until_read(app, moderator, submitter):
    item_id, code = make_submission(app)
    other, _ = make_submission(app)
    write(moderator, item_id)
    answer(submitter, code)
    assert row_ids(moderator.get("/moderation?view=answers").get_data(as_text=True)) == [item_id]
    assert other in row_ids(moderator.get("/moderation").get_data(as_text=True))
    tabs = moderator.get("/moderation/counts", headers=hx("queue-tabs")).get_data(as_text=True)
    assert re.search(r'id="case-count-answers">1<', tabs)
    assert 'class="tag new-answer"' in moderator.get("/moderation").get_data(as_text=True)
    assert moderator.post(f"/moderation/{item_id}/read").status_code == 303
    assert row_ids(moderator.get("/moderation?view=answers").get_data(as_text=True)) == []
    # Writing again also marks the answers read.
    answer(submitter, code, "One more thing.")
    assert row_ids(moderator.get("/moderation?view=answers").get_data(as_text=True)) == [item_id]
    write(moderator, item_id, "Thank you.")
    assert row_ids(moderator.get("/moderation?view=answers").get_data(as_text=True)) == []


def test_an_answer_never_turns_a_decision_into_a_conflict(app, moderator, submitter):
    item_id, code = make_submission(app)
    page = moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    seen = int(re.search(r'name="version" type="hidden" value="(\d+)"', page).group(1))
    write(moderator, item_id)
    answer(submitter, code)
    assert load(app, item_id).version == seen
    assert take_on(moderator, item_id, version=seen).status_code == 303
    assert load(app, item_id).is_open_case


def test_nothing_to_answer_without_a_question_and_after_the_case_is_done(app, moderator, submitter):
    item_id, code = make_submission(app)
    assert 'name="reply"' not in status_of(submitter, code)
    response = answer(submitter, code)
    assert response.status_code == 409 and "nothing to answer" in response.get_data(as_text=True)
    write(moderator, item_id)
    take_on(moderator, item_id)
    moderator.post(f"/moderation/{item_id}/done", data={"version": 2})
    assert answer(submitter, code).status_code == 409
    assert 'name="message"' not in moderator.get(f"/moderation/{item_id}").get_data(as_text=True)
    assert write(moderator, item_id).status_code == 422
    assert count(app, Message) == 1


def test_a_wrong_code_gets_the_same_answer_whether_or_not_a_thread_exists(app, moderator, submitter):
    item_id, code = make_submission(app)

    def normalized(response):
        html = response.get_data(as_text=True)
        return response.status_code, re.sub(r'name="csrf_token" (type="hidden" )?value="[^"]+"', "", html)

    wrong = "1111 2222 3333 4444" if code != "1111222233334444" else "5555 6666 7777 8888"
    before = [
        normalized(submitter.post(url, data={"code": wrong, "reply": "Hi"})) for url in ("/status", "/status/reply")
    ]
    write(moderator, item_id)
    answer(app.test_client(), code)
    after = [
        normalized(submitter.post(url, data={"code": wrong, "reply": "Hi"})) for url in ("/status", "/status/reply")
    ]
    assert before == after
    assert errors_in(after[1][1]) == [NOT_FOUND]
    assert count(app, Message) == 2


def test_messages_are_plain_escaped_text_limited_in_length(app, moderator, submitter):
    item_id, code = make_submission(app)
    write(moderator, item_id, "<script>alert(1)</script> <b>bold</b>")
    status = status_of(submitter, code)
    assert "<script>alert(1)</script>" not in status and "&lt;script&gt;alert(1)&lt;/script&gt;" in status
    too_long = "x" * (Message.BODY_MAX + 1)
    refused = answer(submitter, code, too_long)
    assert refused.status_code == 422
    assert errors_in(refused.get_data(as_text=True))[0].startswith("Please shorten this to 2000 characters")
    assert too_long in refused.get_data(as_text=True)  # what was typed is kept
    empty = answer(submitter, code, "  ")
    assert errors_in(empty.get_data(as_text=True)) == ["Please write your answer."]
    assert write(moderator, item_id, "y" * (Message.BODY_MAX + 1)).status_code == 422
    assert count(app, Message) == 1


def test_a_thread_holds_a_limited_number_of_messages(app, moderator, submitter, monkeypatch):
    monkeypatch.setattr(Message, "PER_ITEM", 3)
    item_id, code = make_submission(app)
    write(moderator, item_id)
    answer(submitter, code, "One.")
    write(moderator, item_id, "Two?")
    assert 'name="reply"' not in status_of(submitter, code)
    assert answer(submitter, code, "Three.").status_code == 409
    assert write(moderator, item_id, "Four?").status_code == 422
    assert count(app, Message) == 3


def test_a_refused_file_keeps_the_answer_typed(app, moderator, submitter):
    item_id, code = make_submission(app)
    write(moderator, item_id)
    response = answer(submitter, code, "Here is the paper.", [(io.BytesIO(b"MZ\x90\x00not a photo"), "paper.exe")])
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Here is the paper." in html and errors_in(html)
    assert count(app, Attachment) == 0 and count(app, Message) == 1


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "REPLY_RATELIMIT": "2 per hour"}])
def test_answers_are_rate_limited_per_connection(app, moderator, submitter):
    item_id, code = make_submission(app)
    write(moderator, item_id)
    assert [answer(submitter, code, f"Answer {n}").status_code for n in range(3)] == [200, 200, 429]
    assert count(app, Message) == 3  # the question and two answers


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "MESSAGE_RATELIMIT": "2 per hour"}])
def test_staff_messages_are_rate_limited_per_staff_member(app, moderator):
    item_id, _ = make_submission(app)
    assert [write(moderator, item_id, f"Question {n}").status_code for n in range(3)] == [303, 303, 429]
    other = app.test_client()  # a colleague has a limit of their own
    sign_in(other, app, make_user(app, "ivan"))
    assert write(other, item_id, "Mine.").status_code == 303


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "MESSAGE_RATELIMIT": "2 per hour"}])
def test_staff_messages_and_notes_share_one_budget(app, moderator):
    """MESSAGE_RATELIMIT counts messages and notes together, as the setting says."""
    item_id, _ = make_submission(app)
    note = {"internal_note": "Internal."}
    codes = [
        moderator.post(f"/moderation/{item_id}/note", data=note).status_code,
        write(moderator, item_id).status_code,
        moderator.post(f"/moderation/{item_id}/note", data=note).status_code,
    ]
    assert codes == [303, 303, 429]


def test_the_thread_and_its_files_go_with_the_item(app, moderator, submitter):
    item_id, code = make_submission(app)
    write(moderator, item_id)
    answer(submitter, code, attachments=[(io.BytesIO(files.jpeg()), "p.jpg")])
    moderator.post(f"/moderation/{item_id}/note", data={"internal_note": "Internal."})
    stored = app.config["STORAGE_URL"]
    import os

    assert os.listdir(stored)
    assert submitter.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
    with app.app_context():
        for model in (Submission, Message, Attachment):
            assert db.session.scalar(select(db.func.count()).select_from(model)) == 0
        from app.models import Note

        assert db.session.scalar(select(db.func.count()).select_from(Note)) == 0
    assert os.listdir(stored) == []


def test_the_receipt_and_the_status_page_say_a_question_may_come_this_way(client):
    receipt = client.post("/submit/information", data={"telegram": "anna_k1", "body": "A tip."})
    html = receipt.get_data(as_text=True)
    assert receipt_from(html)
    assert "your Telegram username is not our only way to reach you" in html
    assert "the Telegram username is not the only way we reach you" in client.get("/status").get_data(as_text=True)


@pytest.mark.parametrize("kind", ["information", "contact", "ad"])
def test_every_kind_of_item_can_be_written_to_while_open(app, moderator, submitter, kind):
    item_id, code = make_submission(app, kind)
    assert write(moderator, item_id).status_code == 303
    take_on(moderator, item_id)
    assert write(moderator, item_id, "And now?").status_code == 303  # an open case, or a published ad
    assert "And now?" in status_of(submitter, code)
    with app.app_context():
        assert db.session.scalars(select(Event.action).where(Event.action == "messaged")).all() == ["messaged"] * 2
