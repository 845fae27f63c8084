"""/status with the receipt: see the status and the reason, withdraw for good; wrong codes are limited."""

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Event, Submission
from tests.helpers import count, errors_in, make_submission

NOT_FOUND = "No submission matches this code. Check the digits and try again."


def test_status_form_asks_for_the_code(client):
    html = client.get("/status").get_data(as_text=True)
    assert 'name="code"' in html and "16-digit" in html


@pytest.mark.parametrize("typed", ["{code}", "{spaced}", " {dashed} "])
def test_pending_status_is_shown_for_the_code_in_any_spacing(app, client, typed):
    _, code = make_submission(app, "ad", title="Bike for sale")
    spaced = " ".join(code[i : i + 4] for i in range(0, 16, 4))
    dashed = spaced.replace(" ", "-")
    html = client.post("/status", data={"code": typed.format(code=code, spaced=spaced, dashed=dashed)}).get_data(
        as_text=True
    )
    assert "Waiting for moderation" in html
    assert "Bike for sale" in html


def test_rejected_status_shows_the_reason_and_note(app, client):
    _, code = make_submission(app, status="rejected", reject_reason="personal_data", reject_note="Names of guards.")
    html = client.post("/status", data={"code": code}).get_data(as_text=True)
    assert "Rejected" in html
    assert "It contains someone&#39;s personal data" in html or "It contains someone's personal data" in html
    assert "Names of guards." in html


@pytest.mark.parametrize("code", ["1234 5678 9012 3456", "0000000000000000"])
def test_wrong_codes_get_one_uniform_answer(app, client, code):
    make_submission(app)
    response = client.post("/status", data={"code": code})
    assert errors_in(response.get_data(as_text=True)) == [NOT_FOUND]


def test_withdrawn_code_gets_the_same_answer_as_a_wrong_one(app, client):
    _, code = make_submission(app)
    client.post("/status/withdraw", data={"code": code, "confirm": "y"})
    assert errors_in(client.post("/status", data={"code": code}).get_data(as_text=True)) == [NOT_FOUND]


@pytest.mark.parametrize(
    ("typed", "message"),
    [("", "Enter the 16-digit code"), ("1234", "A receipt code has 16 digits"), ("abcd efgh", "A receipt code")],
)
def test_malformed_code_says_what_a_code_looks_like(client, typed, message):
    response = client.post("/status", data={"code": typed})
    errors = errors_in(response.get_data(as_text=True))
    assert errors and errors[0].startswith(message)
    assert typed.strip() in response.get_data(as_text=True)


def test_withdraw_needs_confirmation(app, client):
    _, code = make_submission(app)
    response = client.post("/status/withdraw", data={"code": code})
    assert response.status_code == 422
    assert "Tick the box to confirm" in response.get_data(as_text=True)
    assert count(app, Submission) == 1


def test_withdraw_deletes_for_real_and_keeps_only_an_audit_trail(app, client):
    submission_id, code = make_submission(app)
    other_id, _ = make_submission(app)
    response = client.post("/status/withdraw", data={"code": code, "confirm": "y"})
    assert response.status_code == 200
    assert "deleted and cannot be restored" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Submission, submission_id) is None
        assert db.session.get(Submission, other_id) is not None
        actions = db.session.scalars(select(Event.action).where(Event.submission_id == submission_id)).all()
        assert actions == ["submitted", "withdrawn"]


def test_withdraw_with_a_wrong_code_deletes_nothing(app, client):
    make_submission(app)
    response = client.post("/status/withdraw", data={"code": "1111222233334444", "confirm": "y"})
    assert response.status_code == 422
    assert NOT_FOUND in response.get_data(as_text=True)
    assert count(app, Submission) == 1


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "STATUS_RATELIMIT": "3 per hour"}])
def test_wrong_codes_are_rate_limited_but_right_ones_do_not_count(app, client):
    _, code = make_submission(app)
    for _ in range(5):
        assert client.post("/status", data={"code": code}).status_code == 200
    for _ in range(3):
        assert NOT_FOUND in client.post("/status", data={"code": "1111222233334444"}).get_data(as_text=True)
    limited = client.post("/status", data={"code": "1111 2222 3333 5555"})
    assert limited.status_code == 429
    html = limited.get_data(as_text=True)
    assert "Too many attempts" in html
    assert "1111 2222 3333 5555" in html  # what was typed is kept
    # Once the limit is spent, the right code waits too: telling it from a wrong one would cost a derivation
    # (AT-REST.md, "Receipt"); another client is not affected.
    assert client.post("/status", data={"code": code}).status_code == 429
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.77"
    assert other.post("/status", data={"code": code}).status_code == 200
    assert other.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200


# Every action that opens an item by its receipt code: one budget of wrong codes for all of them.
RECEIPT_ACTIONS = {
    "/status": {},
    "/status/reply": {"reply": "An answer."},
    "/status/edit": {"title": "New", "body": "New text.", "category": "housing", "city": "Minsk"},
    "/status/renew": {},
    "/status/close": {},
    "/status/withdraw": {"confirm": "y"},
}


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "STATUS_RATELIMIT": "6 per hour"}])
def test_wrong_codes_share_one_budget_whichever_action_was_asked(app, client):
    _, code = make_submission(app, "ad")
    for url, fields in RECEIPT_ACTIONS.items():  # one wrong code at each: the whole budget
        response = client.post(url, data={"code": "1111222233334444"} | fields)
        assert response.status_code in (200, 422) and NOT_FOUND in response.get_data(as_text=True), url
    for url, fields in RECEIPT_ACTIONS.items():  # the seventh, at any of them, is refused, a right code's too
        assert client.post(url, data={"code": "1111222233335555"} | fields).status_code == 429, url
        assert client.post(url, data={"code": code} | fields).status_code == 429, url


@pytest.mark.parametrize("app_config", [{"RATELIMIT_ENABLED": True, "REPLY_RATELIMIT": "1 per hour"}])
def test_answers_and_ad_edits_share_one_budget(app, client):
    """REPLY_RATELIMIT counts what a receipt holder sends, an answer or an ad's new text, together."""
    _, code = make_submission(app, "ad", status="approved")
    edited = client.post("/status/edit", data={"code": code} | RECEIPT_ACTIONS["/status/edit"])
    assert edited.status_code == 200
    assert client.post("/status/reply", data={"code": code, "reply": "An answer."}).status_code == 429
