"""The cache of public pages: hits cost no query, each visitor gets their own CSRF token, and every change
readers should see (publish, edit, close, renew, reports, expiry, articles) shows at once, on every worker.

On PostgreSQL (PRYSTAN_TEST_DATABASE_URL) the tests run with the Redis generation number, as a site of several
workers or servers would."""

import http.client
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import flask
import pytest
import time_machine
from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session

from app import articles, pagecache
from app.extensions import db
from app.models import Article, Event, PublicAd, Submission, User, utcnow
from tests.helpers import (
    REDIS_URL,
    SECRET,
    TEST_DATABASE_URL,
    make_app,
    make_submission,
    make_user,
    public_id,
    ram_folder,
    redis_available,
)
from tests.helpers import (
    approve as approve_as,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def app_config():
    """On PostgreSQL, the workers learn of changes through Redis (without it, each hit asks the database)."""
    if TEST_DATABASE_URL and redis_available():
        # A secret of this test's own: its Redis number (named after the secret) is bumped by this test alone.
        return {"PAGE_CACHE_REDIS_URL": REDIS_URL, "SECRET_KEY": f"{SECRET}-{uuid.uuid4().hex}"}
    return {}


@pytest.fixture
def mod(app):
    return make_user(app, "mira", "moderator")


def approve(app, moderator_id, submission_id):
    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        approve_as(submission_id, submission.version, db.session.get(User, moderator_id))


def queries_for(app, client, url) -> int:
    seen = []
    with app.app_context():
        engine = db.engine
    listener = lambda *args: seen.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return len([s for s in seen if not s.startswith("PRAGMA")])


def state_source(app):
    with app.app_context():
        return pagecache.state_source(app)


def test_a_repeated_page_is_served_from_the_cache_with_no_query(app, client, mod):
    """On SQLite the cache's own connection answers PRAGMA data_version (no query, and not through the engine);
    on PostgreSQL, Redis. Only PostgreSQL without Redis still asks for the newest event on each hit."""
    ad, _ = make_submission(app, "ad", title="Cached bike")
    approve(app, mod, ad)
    first = queries_for(app, client, "/ads")
    again = queries_for(app, client, "/ads")
    source = state_source(app)
    expected = 1 if isinstance(source, pagecache.EventState) else 0
    assert not TEST_DATABASE_URL or not redis_available() or isinstance(source, pagecache.RedisState)
    assert first > 1 and again == expected
    assert "Cached bike" in client.get("/ads").get_data(as_text=True)


def test_made_up_query_arguments_are_answered_but_never_push_real_pages_out(app, client, mod):
    ad, _ = make_submission(app, "ad", title="Kept bike")
    approve(app, mod, ad)
    pages = app.extensions["pagecache"]
    client.get("/ads?q=bike")
    kept = len(pages.entries)
    for n in range(20):
        response = client.get(f"/ads?junk{n}=x&q=bike")
        assert response.status_code == 200 and "Kept bike" in response.get_data(as_text=True)
    assert len(pages.entries) == kept  # none of them kept
    assert queries_for(app, client, "/ads?q=bike") == (1 if isinstance(state_source(app), pagecache.EventState) else 0)
    for n in range(20):  # nor fragments asked for elements readers' pages do not have
        response = client.get("/ads?q=bike", headers={"HX-Request": "true", "HX-Target": f"made-up-{n}"})
        assert response.status_code == 200 and "Kept bike" in response.get_data(as_text=True)
    assert len(pages.entries) == kept


# What a reader's request may carry that could change the answer: htmx's headers (a fragment or the page, boosted
# or not, aimed at one element or another, or at none), the language asked, and headers that must change nothing.
ASKED = {
    "plain": {},
    "htmx": {"HX-Request": "true"},
    "results": {"HX-Request": "true", "HX-Target": "ad-results"},
    "boosted": {"HX-Request": "true", "HX-Boosted": "true"},
    "boosted results": {"HX-Request": "true", "HX-Boosted": "true", "HX-Target": "ad-results"},
    "elsewhere": {"HX-Request": "true", "HX-Current-URL": "http://localhost/articles", "HX-Trigger": "q"},
    "restore": {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    "russian": {"Accept-Language": "ru"},
    "belarusian": {"cookie": "be"},  # the language switcher's cookie
}


def ask(client, url: str, asked: dict) -> str:
    headers = dict(asked)
    if "cookie" in headers:
        client.set_cookie("prystan_lang", headers.pop("cookie"))
    else:
        client.delete_cookie("prystan_lang")
    return client.get(url, headers=headers).get_data(as_text=True)


def test_whatever_a_request_carries_it_gets_what_the_site_would_render_for_it(app, client, mod):
    """Every request header that changes a page is in the cache's key: after any other request was kept, each kind
    of request gets exactly what it gets from an empty cache (a boosted load of /ads never becomes the results
    fragment of every reader's filter, nor the other way round)."""
    ad, _ = make_submission(app, "ad", title="Keyed bike")
    approve(app, mod, ad)
    pages = app.extensions["pagecache"]
    for url in ("/", "/ads", "/ads?q=bike", f"/ads/{public_id(app, ad)}-keyed-bike", "/articles"):
        expected = {}
        for name, headers in ASKED.items():  # each from an empty cache
            pages.entries.clear()
            expected[name] = ask(client, url, headers)
        # (The test can tell them apart.)
        assert len({expected["plain"], expected["russian"], expected["belarusian"]}) == 3
        assert expected["boosted results"] != expected["results"] or url != "/ads"
        for first, warming in ASKED.items():
            pages.entries.clear()
            ask(client, url, warming)
            for name, headers in ASKED.items():
                assert ask(client, url, headers) == expected[name], f"{url}: {name} after {first}"


def test_sqlite_looks_for_the_newest_event_only_after_a_commit(app):
    """data_version moves with every commit of another connection, the app's own pool included."""
    if TEST_DATABASE_URL:
        pytest.skip("SQLite only")
    make_submission(app, "ad", title="Row")
    source = state_source(app)
    assert isinstance(source, pagecache.SQLiteState)
    with app.app_context():
        before = source.read()
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert source.read() == before and seen == []  # nothing committed: no lookup
            with db.engine.begin() as connection:  # a change committed on a pooled connection, with no event
                connection.execute(update(Submission).values(title="x"))
            assert source.read() == before and len(seen) == 2  # looked up again (the update, then the lookup)
            with db.engine.begin() as connection:
                connection.execute(insert(Event).values(action="submitted", created_at=utcnow(), detail=""))
            assert source.read() != before
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)


def test_reading_the_site_sets_no_cookie(tmp_path):
    """Readers' pages carry no form that needs a session: nothing on a reader's device says they were here,
    and a page served from the cache costs no session either. (CSRF on, as in production.)"""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    mod = make_user(app, "mira", "moderator")
    ad, _ = make_submission(app, "ad", title="Quiet bike")
    approve(app, mod, ad)
    editor = make_user(app, "ales", "editor")
    with app.app_context():
        articles.save(
            None,
            title="Quiet",
            slug="quiet",
            summary="",
            body="Text",
            locale="en",
            publish=True,
            author=db.session.get(User, editor),
        )
    client = app.test_client()
    ad_page = f"/ads/{public_id(app, ad)}-quiet-bike"
    for url in (
        "/",
        "/ads",
        "/ads?q=bike",
        ad_page,
        "/articles",
        "/articles/quiet",
        "/help/telegram",
        "/ads/feed.atom",
        "/articles/feed.atom",
    ):
        for _ in range(2):  # made, then from the cache
            response = client.get(url)
            assert response.status_code == 200, url
            assert "Set-Cookie" not in response.headers, url
    assert f'href="/ads/{public_id(app, ad)}/report"' in client.get(ad_page).get_data(as_text=True)
    assert "Set-Cookie" in client.get(f"/ads/{public_id(app, ad)}/report").headers  # a form: its token's session
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def cached_endpoints(app) -> set[str]:
    """Every endpoint whose view the page cache serves."""
    return {name for name, view in app.view_functions.items() if getattr(view, "page_cache", False)}


def test_no_cached_page_carries_a_csrf_token(tmp_path):
    """A kept page is one body for every reader: a CSRF token in it would be the first reader's, refused for every
    other. Every view the cache serves is made, with each kind of request, for a reader who already holds a token
    (the report form gave them one, so asking for it again sets no cookie): none may make a token."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
    mod = make_user(app, "mira", "moderator")
    ad, _ = make_submission(app, "ad", title="Tokenless bike")
    approve(app, mod, ad)
    editor = make_user(app, "ales", "editor")
    with app.app_context():
        author = db.session.get(User, editor)
        articles.save(
            None, title="Plain", slug="plain", summary="", body="Text", locale="en", publish=True, author=author
        )
    urls = {
        "public.home": "/",
        "public.ad_list": "/ads?q=bike",
        "public.ad": f"/ads/{public_id(app, ad)}-tokenless-bike",
        "public.ads_feed": "/ads/feed.atom",
        "public.article_list": "/articles",
        "public.article": "/articles/plain",
        "public.articles_feed": "/articles/feed.atom",
    }
    assert set(urls) == cached_endpoints(app)  # a page the cache takes on is asked here too
    reader = app.test_client()
    html = reader.get(f"/ads/{public_id(app, ad)}/report").get_data(as_text=True)
    assert 'name="csrf_token"' in html  # (the probe works: a form's page makes one)
    pages = app.extensions["pagecache"]
    for url in urls.values():
        for name, headers in ASKED.items():
            pages.entries.clear()
            with reader:  # keeps the request's context, and so its g, until the block ends
                assert ask(reader, url, headers)
                made = flask.g.get(app.config["WTF_CSRF_FIELD_NAME"])
            assert made is None, f"{url} ({name}) carries a CSRF token"
            assert len(pages.entries) == 1, f"{url} ({name}) was not kept"
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_the_report_form_is_never_kept_and_gives_each_reader_a_working_token(tmp_path):
    """The form beside a cached ad page carries the reader's own token: it is made for each reader, never kept."""
    app = make_app(tmp_path, WTF_CSRF_ENABLED=True, REPORT_THRESHOLD=5)
    with app.app_context():
        db.create_all()
    mod = make_user(app, "mira", "moderator")
    ad, _ = make_submission(app, "ad", title="Token test")
    approve(app, mod, ad)
    tokens = []
    for n in range(2):
        reader = app.test_client()
        reader.environ_base["REMOTE_ADDR"] = f"192.0.2.{n + 1}"
        html = reader.get(f"/ads/{public_id(app, ad)}/report").get_data(as_text=True)
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
        tokens.append(token)
        response = reader.post(f"/ads/{public_id(app, ad)}/report", data={"reason": "spam", "csrf_token": token})
        assert response.status_code == 303, n
    assert tokens[0] != tokens[1]
    assert not app.extensions["pagecache"].entries
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


def test_changes_readers_should_see_show_at_once(app, client, mod):
    ad, code = make_submission(app, "ad", title="Old title", category="goods")
    assert "Old title" not in client.get("/ads").get_data(as_text=True)
    assert client.get("/").status_code == 200  # cache the home page and the list while the ad is pending
    approve(app, mod, ad)
    assert "Old title" in client.get("/ads").get_data(as_text=True)
    assert "Old title" in client.get("/").get_data(as_text=True)
    assert "Old title" in client.get("/ads/feed.atom").get_data(as_text=True)

    # The owner closes it: gone from every page, its own page answers 410.
    assert client.post("/status/close", data={"code": code}).status_code == 200
    for url in ("/ads", "/", "/ads/feed.atom"):
        assert "Old title" not in client.get(url).get_data(as_text=True), url
    assert client.get(f"/ads/{public_id(app, ad)}-old-title").status_code == 410


def test_reports_that_send_an_ad_back_hide_it_at_once(app, client, mod):
    app.config["REPORT_THRESHOLD"] = 1
    ad, _ = make_submission(app, "ad", title="Reported one")
    approve(app, mod, ad)
    assert client.get(f"/ads/{public_id(app, ad)}-reported-one").status_code == 200
    assert client.post(f"/ads/{public_id(app, ad)}/report", data={"reason": "spam"}).status_code == 303
    assert client.get(f"/ads/{public_id(app, ad)}-reported-one").status_code == 404
    assert "Reported one" not in client.get("/ads").get_data(as_text=True)


def test_an_ad_leaves_the_cached_pages_when_it_expires(app, client, mod):
    ad, _ = make_submission(app, "ad", title="Short lived")
    approve(app, mod, ad)
    with app.app_context():
        db.session.get(Submission, ad).expires_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
    # The expiry changed no audit event: the cache must know the time itself.
    assert "Short lived" in client.get("/ads").get_data(as_text=True)
    assert client.get(f"/ads/{public_id(app, ad)}-short-lived").status_code == 200
    with time_machine.travel(time.time() + 59, tick=False):
        assert "Short lived" in client.get("/ads").get_data(as_text=True)  # (served from the cache: still live)
    with time_machine.travel(time.time() + 61, tick=False):
        assert "Short lived" not in client.get("/ads").get_data(as_text=True)
        assert client.get(f"/ads/{public_id(app, ad)}-short-lived").status_code == 410


def test_the_city_suggestions_follow_what_is_live(app, client, mod):
    """The suggestions are worked out once per site state and shared by the pages made meanwhile."""
    first, _ = make_submission(app, "ad", title="Flat", city="Gdańsk")
    approve(app, mod, first)

    def cities(url):
        datalist = client.get(url).get_data(as_text=True).split('<datalist id="city-list">')[1].split("</datalist>")[0]
        return re.findall(r'<option value="([^"]+)">', datalist)

    assert cities("/ads") == ["Gdańsk"]
    second, _ = make_submission(app, "ad", title="Room", city="Riga")
    approve(app, mod, second)
    with app.app_context():  # (every change of an expiry comes with an event; this one is made before any page)
        db.session.get(Submission, first).expires_at = utcnow() + timedelta(minutes=1)
        db.session.commit()
    assert sorted(cities("/ads?category=housing")) == ["Gdańsk", "Riga"]  # a page not made before
    assert sorted(cities("/ads")) == ["Gdańsk", "Riga"]
    with time_machine.travel(time.time() + 61, tick=False):  # the Gdańsk ad expires: no event, only the clock
        assert cities("/ads?q=room") == ["Riga"]
        assert cities("/ads") == ["Riga"]


def test_articles_published_edited_and_withdrawn_show_at_once(app, client, mod):
    editor = make_user(app, "ales", "editor")
    with app.app_context():
        author = db.session.get(User, editor)
        article = articles.save(
            None, title="First", slug="first", summary="", body="One", locale="en", publish=True, author=author
        )
        article_id = article.id
    assert "One" in client.get("/articles/first").get_data(as_text=True)
    assert "First" in client.get("/articles").get_data(as_text=True)
    with app.app_context():
        articles.save(
            db.session.get(Article, article_id),
            title="First",
            slug="first",
            summary="",
            body="Two",
            locale="en",
            publish=False,
            author=db.session.get(User, editor),
        )
    assert client.get("/articles/first").status_code == 404
    assert "First" not in client.get("/articles").get_data(as_text=True)


def test_staff_and_visitors_with_messages_are_never_served_from_the_cache(app, client, mod):
    from tests.helpers import sign_in

    ad, _ = make_submission(app, "ad", title="Staff view")
    approve(app, mod, ad)
    client.get("/ads")
    sign_in(client, app, mod)
    assert "Sign out (mira)" in client.get("/ads").get_data(as_text=True)
    reader = app.test_client()
    reader.post(f"/ads/{public_id(app, ad)}/report", data={"reason": "spam"})
    assert "A moderator will look at this ad" in reader.get("/ads").get_data(as_text=True)


class Clock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def redis_state(app):
    """The Redis generation number on any database, under a key of this test's own, on a clock the test moves."""
    if not redis_available():
        pytest.skip("Redis is not running here (CI runs it)")
    source = pagecache.RedisState(REDIS_URL, key=f"prystan-test:{uuid.uuid4().hex}", clock=Clock())
    app.extensions["pagecache.state"] = source
    yield source
    source.redis.delete(source.key)


def test_through_redis_a_hit_costs_no_query_and_a_commit_shows_at_once(app, client, mod, redis_state):
    ad, _ = make_submission(app, "ad", title="Redis bike")
    assert "Redis bike" not in client.get("/ads").get_data(as_text=True)
    assert queries_for(app, client, "/ads") == 0
    generation = int(redis_state.redis.get(redis_state.key))
    approve(app, mod, ad)  # the commit that added an event bumps the number
    assert int(redis_state.redis.get(redis_state.key)) == generation + 1
    assert "Redis bike" in client.get("/ads").get_data(as_text=True)
    redis_state.redis.delete(redis_state.key)  # a Redis restarted empty, or the key evicted
    with app.app_context():
        assert redis_state.read()[1] not in (0, generation, generation + 1)  # a new start, no page kept under it


def test_only_the_apps_session_announces_its_commits(app, redis_state):
    """The cache listens to the app's session (db.session), not to every SQLAlchemy session in the process: a
    session of another's own, on the same engine, bumps nothing (its change shows within the recheck, as any
    write from outside does); the app's own commit bumps the number once."""
    generation = lambda: int(redis_state.redis.get(redis_state.key))  # noqa: E731
    with app.app_context():
        redis_state.read()  # the number exists
        before = generation()
        with Session(db.engine) as other:
            other.add(Event(action="submitted", created_at=utcnow(), detail=""))
            other.commit()
        assert generation() == before
        db.session.add(Event(action="submitted", created_at=utcnow(), detail=""))
        db.session.commit()
        assert generation() == before + 1


def test_a_change_that_bumped_nothing_shows_within_the_recheck(app, client, mod, redis_state):
    """A write from a process without Redis, or while Redis was away: the newest event is looked up anyway,
    at most RECHECK_SECONDS apart."""
    ad, _ = make_submission(app, "ad", title="Quiet change")
    assert "Quiet change" not in client.get("/ads").get_data(as_text=True)
    with app.app_context(), db.engine.begin() as connection:  # not through a session: no bump
        now = utcnow()
        connection.execute(
            update(Submission)
            .where(Submission.id == ad)
            .values(status="approved", published_at=now, expires_at=now + timedelta(days=30))
        )
        connection.execute(insert(PublicAd).values(submission_id=ad, title="Quiet change", body="A room."))
        connection.execute(insert(Event).values(action="approved", submission_id=ad, created_at=now, detail=""))
    redis_state.clock.now += redis_state.RECHECK_SECONDS / 2
    assert "Quiet change" not in client.get("/ads").get_data(as_text=True)  # the kept page, until the recheck
    redis_state.clock.now += redis_state.RECHECK_SECONDS / 2  # (halves: exact in binary)
    assert "Quiet change" in client.get("/ads").get_data(as_text=True)


def test_without_redis_the_cache_asks_the_database(app, client, mod):
    """Redis unreachable: every hit asks for the newest event, and changes still show at once."""
    app.extensions["pagecache.state"] = pagecache.RedisState("redis://127.0.0.1:9", key="unreachable")
    ad, _ = make_submission(app, "ad", title="Fallback bike")
    assert "Fallback bike" not in client.get("/ads").get_data(as_text=True)
    approve(app, mod, ad)
    assert "Fallback bike" in client.get("/ads").get_data(as_text=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# gunicorn serves this module: the site, with the id of the worker process that answered each request.
WORKER_WSGI = """
import os
from wsgi import app as site

def app(environ, start_response):
    def respond(status, headers, exc_info=None):
        return start_response(status, headers + [("X-Worker", str(os.getpid()))], exc_info)
    return site(environ, respond)
"""


class Workers:
    """gunicorn with two workers on the tests' database; each request on a new connection, so that both answer."""

    def __init__(self, app, tmp_path):
        self.port = free_port()
        (tmp_path / "worker_wsgi.py").write_text(WORKER_WSGI)
        env = os.environ | {
            "PRYSTAN_SECRET_KEY": app.config["SECRET_KEY"],
            "PRYSTAN_DATABASE_URL": app.config["DATABASE_URL"],
            "PRYSTAN_STORAGE_URL": app.config["STORAGE_URL"],
            "PRYSTAN_UPLOAD_WORKDIR": ram_folder(tmp_path) + "-workers",
            "PRYSTAN_RESUMABLE_DIR": str(tmp_path / "resumable-workers"),
            "PRYSTAN_RATELIMIT_ENABLED": "false",
            "PRYSTAN_WTF_CSRF_ENABLED": "false",
            "PRYSTAN_POW_ENABLED": "false",
            "PRYSTAN_REPORT_THRESHOLD": "1",
            "PRYSTAN_PAGE_CACHE_REDIS_URL": f'"{app.config["PAGE_CACHE_REDIS_URL"] or ""}"',
            "PYTHONPATH": f"{ROOT}:{tmp_path}",
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "2",
        }
        command = [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "worker_wsgi:app"]
        self.server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while len(self.pids_serving("/help/telegram", times=1)) < 2:
            assert time.time() < deadline and self.server.poll() is None, "gunicorn did not start two workers"

    def get(self, path: str, method: str = "GET", body: str | None = None) -> tuple[str, int, str]:
        """(the worker's pid, status, page text)"""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Connection": "close", "Content-Type": "application/x-www-form-urlencoded"}
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.getheader("X-Worker"), response.status, response.read().decode()
        except OSError:
            return None, 0, ""
        finally:
            connection.close()

    def pids_serving(self, path: str, times: int) -> dict[str, list]:
        """Ask until each worker has answered ``times`` times; every answer, by worker."""
        answers: dict[str, list] = {}
        for _ in range(400):
            pid, status, text = self.get(path)
            if pid:
                answers.setdefault(pid, []).append((status, text))
            if len(answers) == 2 and all(len(a) >= times for a in answers.values()):
                break
        return answers

    def every_worker(self, path: str, times: int = 2):
        """Every answer of both workers: the first made or served from its cache, the next from its cache."""
        answers = self.pids_serving(path, times)
        assert len(answers) == 2, f"one worker only answered {path}"
        return [answer for worker in answers.values() for answer in worker]

    def close(self):
        self.server.terminate()
        self.server.wait(timeout=20)


def test_every_worker_shows_each_change_at_once(app, mod, tmp_path):
    """Two gunicorn workers, each with its cache warm: a publication and an article edit made by another
    process, and a report sent to one of the workers, show on both at the next request."""
    shown, _ = make_submission(app, "ad", title="Shown bike")
    approve(app, mod, shown)
    waiting, _ = make_submission(app, "ad", title="Waiting bike")
    editor = make_user(app, "ales", "editor")
    with app.app_context():
        article_id = articles.save(
            None,
            title="First",
            slug="first",
            summary="",
            body="One",
            locale="en",
            publish=True,
            author=db.session.get(User, editor),
        ).id
    page = f"/ads/{public_id(app, shown)}-shown-bike"
    workers = Workers(app, tmp_path)
    try:
        for path in ("/", "/ads", page, "/articles"):
            for status, text in workers.every_worker(path):  # warm: each worker makes the page, then keeps it
                assert status == 200 and "Waiting bike" not in text, path

        approve(app, mod, waiting)  # published by another process
        for path in ("/", "/ads"):
            assert all("Waiting bike" in text for _, text in workers.every_worker(path)), path

        with app.app_context():
            articles.save(
                db.session.get(Article, article_id),
                title="Second",
                slug="first",
                summary="",
                body="Two",
                locale="en",
                publish=True,
                author=db.session.get(User, editor),
            )
        for _, text in workers.every_worker("/articles"):
            assert "Second" in text and "First" not in text

        _, status, _ = workers.get(f"/ads/{public_id(app, shown)}/report", "POST", "reason=spam")
        assert status == 303  # reported to one worker: the ad goes back to the queue (threshold 1)
        assert {status for status, _ in workers.every_worker(page)} == {404}
        assert all("Shown bike" not in text for _, text in workers.every_worker("/ads"))
    finally:
        workers.close()


def test_the_page_caches_redis_follows_the_rate_limiters_whatever_its_scheme():
    """deploy/ gives the limiter Redis's socket (redis+unix://, the limits library's name): the page cache must
    find it there too (redis-py's unix://), or a hit would ask PostgreSQL again."""
    from app.pagecache import redis_url

    socket = "/run/redis/redis-server.sock"
    assert redis_url({"RATELIMIT_STORAGE_URI": f"redis+unix://{socket}"}) == f"unix://{socket}"
    assert redis_url({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379"}) == "redis://127.0.0.1:6379"
    assert redis_url({"RATELIMIT_STORAGE_URI": "memory://"}) is None
    assert redis_url({"RATELIMIT_STORAGE_URI": "redis://x", "PAGE_CACHE_REDIS_URL": False}) is None
