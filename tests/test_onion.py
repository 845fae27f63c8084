"""On the onion address every visitor reaches the app from 127.0.0.1 (the Tor daemon): per-address limits would
put them all in one bucket. There a send or report without a solved proof of work waits apart (tests/test_unproved.py),
the limits count per form session, and the puzzle grows with the load (issue 17, item 4)."""

import pytest

from app.extensions import db
from app.models import Report, Submission
from tests.helpers import receipt_from, solved_pow
from tests.test_pow import form

PUBLIC, ONION = "https://prystan.example", "http://prystanexampleonionaddressxxxxxxxxxxxxxxxxxxxxxxxxx.onion"
ADDRESSES = {"PUBLIC_URL": PUBLIC, "ONION_URL": ONION, "POW_MAX_NUMBER": 1000}
LIMITED = ADDRESSES | {"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "1 per hour", "NOJS_SUBMIT_RATELIMIT": "5/hour"}


def count(app, model) -> int:
    with app.app_context():
        return db.session.query(model).count()


@pytest.mark.parametrize("app_config", [ADDRESSES | {"POW_REQUIRED": True}])
def test_pow_can_be_required_everywhere(app, client):
    for base_url in (PUBLIC, ONION):
        refused = client.post("/submit/information", data=form(1), base_url=base_url)
        assert refused.status_code == 422 and "solve a small puzzle" in refused.text
        assert "Text number 1" in refused.text and "pow_tester" in refused.text  # what was typed comes back
    assert count(app, Submission) == 0


@pytest.mark.parametrize("app_config", [ADDRESSES | {"POW_REQUIRED": True}])
def test_a_report_can_need_a_solved_puzzle(app, client):
    from tests.helpers import make_user
    from tests.test_ads import publish

    ad_id, _code = publish(app, make_user(app, "mira"))
    with app.app_context():
        public = db.session.get(Submission, ad_id).public_id
    url = f"/ads/{public}/report"
    assert 'name="altcha"' in client.get(url, base_url=ONION).get_data(as_text=True)
    refused = client.post(url, data={"reason": "scam", "note": "Looks fake"}, base_url=ONION)
    assert refused.status_code == 422 and "solve a small puzzle" in refused.get_data(as_text=True)
    assert count(app, Report) == 0
    answer = solved_pow(client)
    taken = client.post(url, data={"reason": "scam", "note": "", "altcha": answer}, base_url=ONION)
    assert taken.status_code == 303 and count(app, Report) == 1


@pytest.mark.parametrize("app_config", [LIMITED])
def test_on_the_onion_limits_count_per_form_session_not_for_everyone_at_once(app):
    first, second = app.test_client(), app.test_client()
    for visitor in (first, second):
        visitor.get("/submit/information", base_url=ONION)  # (the form page starts the form session)
    assert receipt_from(first.post("/submit/information", data=form(1, solved_pow(first)), base_url=ONION).text)
    assert first.post("/submit/information", data=form(2, solved_pow(first)), base_url=ONION).status_code == 429
    # Another visitor, from the same 127.0.0.1, is not stopped by the first one's limit.
    assert receipt_from(second.post("/submit/information", data=form(3, solved_pow(second)), base_url=ONION).text)


@pytest.mark.parametrize("app_config", [LIMITED | {"SUBMIT_RATELIMIT": "50 per hour"}])
def test_the_puzzle_grows_with_the_load_and_stops_at_its_cap(app, client):
    app.config.update(POW_LOAD_STEP=2, POW_LOAD_MAX_FACTOR=4)
    sizes = []
    for n in range(6):
        sizes.append(client.get("/pow/challenge").get_json()["maxnumber"])
        assert receipt_from(client.post("/submit/information", data=form(n, solved_pow(client))).text)
    assert sizes == [1000, 1000, 2000, 2000, 4000, 4000]
    assert client.get("/pow/challenge").get_json()["maxnumber"] == 4000  # (the cap)
    # Sends without an answer cost nothing and so add no load.
    client.post("/submit/information", data=form(99))
    assert client.get("/pow/challenge").get_json()["maxnumber"] == 4000


@pytest.mark.parametrize("app_config", [ADDRESSES | {"RATELIMIT_ENABLED": True, "LOGIN_RATELIMIT": "50 per hour"}])
def test_a_sign_in_over_the_onion_exempts_no_onion_client_from_the_growing_delay(app):
    """On the public address the moderator's own address, known from an earlier sign-in, is never delayed. On the
    onion every client is 127.0.0.1: a sign-in there must not make every onion client 'known'."""
    from app.auth import throttle
    from tests.helpers import PASSWORD, make_user

    make_user(app)

    def attempt(base, password="wrong password!"):
        data = {"username": "olga", "password": password}
        local = {"REMOTE_ADDR": "127.0.0.1"}
        return app.test_client().post("/auth/login", data=data, base_url=base, environ_base=local)

    assert attempt(ONION, PASSWORD).status_code == 303  # staff signed in over the onion
    assert [attempt(ONION).status_code for _ in range(throttle.FREE)] == [422] * throttle.FREE
    assert attempt(ONION, PASSWORD).status_code == 429  # a guesser there is delayed like everyone else


@pytest.mark.parametrize("app_config", [ADDRESSES | {"PROXY_HOPS": 1}])
def test_behind_a_proxy_only_its_onion_server_makes_a_request_the_onions(app, client):
    """A client of the public address can name the onion host; only the proxy's onion server sets the header."""
    claimed = client.post("/submit/information", data=form(1), base_url=ONION)
    assert claimed.status_code == 200  # not the onion: taken on the path without JavaScript
    marked = client.post("/submit/information", data=form(2), base_url=ONION, headers={"X-Prystan-Onion": "1"})
    assert marked.status_code == 200  # the onion's: taken into the tab "sent without the puzzle"
    with app.app_context():
        assert [s.unproved for s in db.session.query(Submission).order_by(Submission.id)] == [False, True]


@pytest.mark.parametrize("app_config", [ADDRESSES | {"RATELIMIT_ENABLED": True}])
def test_a_report_refused_for_its_fields_does_not_use_up_the_readers_one_report(app, client):
    from tests.helpers import make_user
    from tests.test_ads import publish

    ad_id, _code = publish(app, make_user(app, "mira"))
    with app.app_context():
        url = f"/ads/{db.session.get(Submission, ad_id).public_id}/report"
    assert client.post(url, data={"reason": "", "note": "Forgot the reason"}, base_url=PUBLIC).status_code == 422
    assert client.post(url, data={"reason": "scam", "note": ""}, base_url=PUBLIC).status_code == 303
    again = client.post(url, data={"reason": "scam", "note": ""}, base_url=PUBLIC)
    assert again.status_code == 429 and "You have already reported this ad" in again.text
    assert count(app, Report) == 1
