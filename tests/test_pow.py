"""Proof of work on submissions: solved answers pass under the normal limit, each answer counts once, and
the no-JavaScript path still works under a stricter limit. In Chromium the browser solves it by itself."""

import base64
import json
import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from tests.browser import LiveServer
from tests.helpers import make_app, receipt_from, solved_pow

LIMITS = {
    "RATELIMIT_ENABLED": True,
    "SUBMIT_RATELIMIT": "10 per hour",
    "NOJS_SUBMIT_RATELIMIT": "1 per hour",
    "POW_MAX_NUMBER": 2000,
}


def form(n: int, answer: str = "") -> dict:
    return {"telegram": "pow_tester", "body": f"Text number {n}", "altcha": answer}


@pytest.mark.parametrize("app_config", [LIMITS])
def test_solved_answers_pass_and_the_no_js_path_gets_the_stricter_limit(app, client):
    for n in range(3):
        response = client.post("/submit/information", data=form(n, solved_pow(client)))
        assert response.status_code == 200 and receipt_from(response.get_data(as_text=True)), n
    # Without an answer: accepted once, then the stricter limit, with what was typed kept.
    assert receipt_from(client.post("/submit/information", data=form(10)).get_data(as_text=True))
    refused = client.post("/submit/information", data=form(11))
    assert refused.status_code == 429 and "Text number 11" in refused.get_data(as_text=True)
    # A forged or altered answer is no answer.
    answer = json.loads(base64.b64decode(solved_pow(client)))
    forged = base64.b64encode(json.dumps(answer | {"number": answer["number"] + 1}).encode()).decode()
    assert client.post("/submit/information", data=form(12, forged)).status_code == 429
    for junk in ("x", "%%%", base64.b64encode(b"[1,2]").decode(), "A" * 5000):
        assert client.post("/submit/information", data=form(13, junk)).status_code == 429


@pytest.mark.parametrize("app_config", [LIMITS])
def test_each_answer_counts_once(client):
    answer = solved_pow(client)
    assert receipt_from(client.post("/submit/information", data=form(1, answer)).get_data(as_text=True))
    assert client.post("/submit/information", data=form(2, answer)).status_code == 429
    # Nor on another form: an answer is used once, whichever form it came with.
    ad = form(3, answer) | {"title": "Bike", "category": "goods", "city": "Vilnius"}
    assert client.post("/submit/ad", data=ad).status_code == 429


@pytest.mark.parametrize("app_config", [LIMITS | {"POW_ENABLED": False}])
def test_proof_of_work_can_be_switched_off(client):
    assert client.get("/pow/challenge").status_code == 404
    assert 'name="altcha"' not in client.get("/submit/information").get_data(as_text=True)
    for n in range(3):
        assert receipt_from(client.post("/submit/information", data=form(n)).get_data(as_text=True))


@pytest.mark.e2e
@pytest.mark.once
def test_the_browser_solves_it_so_a_person_never_meets_the_stricter_limit(browser, tmp_path):
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, **LIMITS)
    with app.app_context():
        db.drop_all()
        db.create_all()
    try:
        with LiveServer(app) as server:
            context = browser.new_context(base_url=server.url)
            page = context.new_page()
            for n in range(3):
                page.goto("/submit/information")
                expect(page.locator("input[name=altcha]")).to_have_value(re.compile(r".{40,}"), timeout=20000)
                page.get_by_label("What do you want to tell us?").fill(f"Sent from a browser, {n}")
                page.get_by_label("Your Telegram username").fill("browser_user")
                page.get_by_role("button", name="Send").click()
                expect(page.locator("#receipt-code")).to_be_visible()
            context.close()
    finally:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
