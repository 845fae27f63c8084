"""Rate limits on every public POST, keyed on a keyed hash of the address, shared through Redis by several
app instances (as several gunicorn workers or servers would be)."""

import uuid

import pytest
import redis

from app.extensions import db
from tests import routes
from tests.helpers import REDIS_URL, make_app, make_submission, redis_available
from tests.routes import url_of

ONE = "1 per hour"
TIGHT = {
    "RATELIMIT_ENABLED": True,
    "SUBMIT_RATELIMIT": ONE,
    "REFUSED_SUBMIT_RATELIMIT": ONE,
    "STATUS_RATELIMIT": ONE,
    "REPORT_RATELIMIT": ONE,
    "LOGIN_RATELIMIT": ONE,
    "LANGUAGE_RATELIMIT": ONE,
    "RESUMABLE_RATELIMIT": ONE,
}


def posts_in_url_map(app, ad: str = "z" * 12) -> list[str]:
    """Every POST route outside the staff areas, from the URL map (``ad``: the public id of an ad)."""
    staff = ("/moderation", "/admin", "/auth/password", "/auth/totp", "/auth/keys", "/auth/logout")
    return sorted(
        {
            url_of(rule, ad_id=ad)
            for rule in app.url_map.iter_rules()
            if "POST" in rule.methods and not rule.rule.startswith(staff)
        }
    )


@pytest.mark.parametrize("app_config", [TIGHT])
def test_every_public_post_is_limited(app, client):
    from app.models import Submission, utcnow

    ad_id, _ = make_submission(app, "ad", status="approved")
    with app.app_context():
        ad = db.session.get(Submission, ad_id)
        ad.published_at, ad.expires_at = utcnow(), utcnow().replace(year=utcnow().year + 1)
        db.session.commit()
        report = f"/ads/{ad.public_id}/report"
    bodies = {
        "/status": {"code": "1234 5678 1234 5678"},
        report: {"reason": "spam"},
        "/auth/login": {"username": "nobody", "password": "x" * 12},
    }
    posts = posts_in_url_map(app, ad.public_id)
    assert set(routes.public_posts(ad.public_id)) <= set(posts)
    # A resumable upload starts with headers, from a form session (the form page gives it its key).
    tus = {"Tus-Resumable": "1.0.0", "Upload-Length": "100", "Upload-Metadata": "filename YS5qcGc="}
    for url in posts:
        fresh = app.test_client()
        fresh.environ_base["REMOTE_ADDR"] = f"192.0.2.{posts.index(url) + 10}"
        headers = tus if url == "/uploads" else {}
        if headers:
            fresh.get("/submit/information")
        data = bodies.get(url, {"code": "1234 5678 1234 5678"})
        codes = [fresh.post(url, data=data, headers=headers).status_code for _ in range(3)]
        assert 429 in codes, (url, codes)
        assert 500 not in codes


@pytest.mark.parametrize("app_config", [TIGHT])
def test_the_language_switch_is_limited_too(client):
    codes = [client.get("/language/be?next=/").status_code for _ in range(3)]
    assert codes[0] == 303 and 429 in codes


def test_two_instances_share_one_limit_through_redis(tmp_path):
    if not redis_available():
        pytest.skip("Redis is not running here (CI runs it)")
    prefix = f"test-{uuid.uuid4().hex}"
    config = {
        "RATELIMIT_ENABLED": True,
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": prefix,
        "SUBMIT_RATELIMIT": "3 per minute",
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_app(tmp_path / "a", **config)
    second = make_app(tmp_path / "b", **config)
    for app in (first, second):
        with app.app_context():
            db.create_all()
    clients = [first.test_client(), second.test_client()]
    for c in clients:
        c.environ_base["REMOTE_ADDR"] = "203.0.113.50"
    form = {"telegram": "shared_limit", "body": "text"}
    codes = [
        clients[n % 2].post("/submit/information", data=form | {"body": f"text {n}"}).status_code for n in range(5)
    ]
    assert codes == [200, 200, 200, 429, 429]
    # The limiter's keys in Redis name a keyed hash, never the address.
    store = redis.Redis.from_url(REDIS_URL)
    keys = [k.decode() for k in store.scan_iter(f"*{prefix}*")]
    assert keys and not any("203.0.113.50" in k for k in keys)
    # Both instances hashed the address with the same random daily key, which Redis forgets after 32 days.
    daily = [k for k in keys if k.startswith("prystan:ratekey:")]
    assert len(daily) == 1 and 30 * 86400 < store.ttl(daily[0]) <= 32 * 86400
    keys = [k for k in keys if k not in daily]
    # ...and last only as long as their window, which ends each key: ".../<amount>/<multiples>/<unit>"
    # (SECURITY.md, "What is stored").
    seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
    for key in keys:
        _amount, multiples, unit = key.rsplit("/", 3)[1:]
        assert 0 < store.ttl(key) <= int(multiples) * seconds[unit], key
    # Another address is not affected.
    other = first.test_client()
    other.environ_base["REMOTE_ADDR"] = "203.0.113.51"
    assert other.post("/submit/information", data=form).status_code == 200
    for app in (first, second):
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "1 per hour", "POW_ENABLED": False}]
)
def test_refused_forms_do_not_use_up_the_submission_limit(app, client):
    """Three tries with a phone number where the username goes, then the corrected form is taken."""
    for _ in range(3):
        refused = client.post("/submit/information", data={"telegram": "+375 29 123 45 67", "body": "A tip."})
        assert refused.status_code == 422
    assert client.post("/submit/information", data={"telegram": "anna_k1", "body": "A tip."}).status_code == 200
    assert client.post("/submit/information", data={"telegram": "anna_k1", "body": "Another."}).status_code == 429


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "REFUSED_SUBMIT_RATELIMIT": "3 per hour", "POW_ENABLED": False}]
)
def test_refused_forms_have_a_limit_of_their_own(app, client):
    codes = [client.post("/submit/information", data={"telegram": "x", "body": ""}).status_code for _ in range(4)]
    assert codes == [422, 422, 422, 429]


TAKEN = {
    "/submit/information": {"telegram": "anna_k1", "body": "A tip."},
    "/submit/contact": {"telegram": "anna_k1", "body": "I can help.", "purpose": "legal", "direction": "offer"},
    "/submit/ad": {"telegram": "anna_k1", "body": "A bike.", "title": "Bike", "category": "goods", "city": "Vilnius"},
}


@pytest.mark.parametrize(
    "app_config",
    [
        {"RATELIMIT_ENABLED": True, "SUBMIT_RATELIMIT": "2 per hour", "POW_ENABLED": False},
        {"RATELIMIT_ENABLED": True, "NOJS_SUBMIT_RATELIMIT": "2 per hour"},
    ],
)
def test_forms_taken_share_one_budget_whichever_form(app, client):
    """The limit is on forms taken per client, not per form: a third form of another kind is refused too."""
    codes = [client.post(url, data=data).status_code for url, data in TAKEN.items()]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(
    "app_config", [{"RATELIMIT_ENABLED": True, "REFUSED_SUBMIT_RATELIMIT": "2 per hour", "POW_ENABLED": False}]
)
def test_forms_refused_share_one_budget_whichever_form(app, client):
    codes = [client.post(url, data={"telegram": "x"}).status_code for url in TAKEN]
    assert codes == [422, 422, 429]
