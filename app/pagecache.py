"""A cache of rendered public pages for anonymous readers, in each worker's memory.

A page is kept together with the state of the site it was made from: the newest audit event (every
publication, edit, renewal, closing, report, withdrawal and article change is one) and the moment the next
live ad expires. When either has moved on, the page is made again. Staff, requests carrying flashed
messages, and anything but a plain GET are never served from the cache. A kept page is one body for every
reader, so no cached view makes a CSRF token: forms (the report form) are pages of their own, never kept
(tests/test_pagecache.py asks every cached view).

A hit asks the database nothing. Whether the newest event may have moved is known without a query:
- SQLite: ``PRAGMA data_version`` on a connection of the cache's own, which never writes. SQLite changes the
  number whenever another connection has committed, in this process or any other, so every commit shows; the
  newest event is looked up again only then.
- PostgreSQL with Redis (PAGE_CACHE_REDIS_URL, by default the rate limiter's Redis): a generation number in
  Redis, bumped after every commit that added an audit event, read on each hit (one GET, no session, no pool).
  The newest event is also looked up at most once a second, so that a bump that never came (Redis down at that
  moment, a write from a process without Redis) hides a change for a second at most.
- Otherwise: the newest event on each hit, as one indexed query.

Why one module: it is one mechanism (the kept pages, the three sources of the site's state above, the commit hooks
that move it, and the decorator that serves a page), whose state sources are small classes used nowhere else.
"""

from __future__ import annotations

import functools
import logging
import os
import pathlib
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from datetime import datetime
from typing import ClassVar

from flask import current_app, g, has_app_context, make_response, request, session
from flask_babel import get_locale
from sqlalchemy import event, func, select

from app.extensions import db, htmx
from app.fragments import wanted
from app.models import Event, Submission, utcnow
from app.security import derive_key


class Pages:
    """The pages of one app, least recently used first."""

    def __init__(self, size: int):
        self.size = size
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple, tuple] = OrderedDict()

    def get(self, key):
        with self.lock:
            entry = self.entries.get(key)
            if entry:
                self.entries.move_to_end(key)
            return entry

    def put(self, key, entry) -> None:
        with self.lock:
            self.entries[key] = entry
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)


def init_app(app) -> None:
    app.extensions["pagecache"] = Pages(int(app.config["PAGE_CACHE_SIZE"]))
    app.extensions["pagecache.memos"] = {}
    app.extensions["pagecache.locales"] = {}
    app.extensions["pagecache.state"] = None  # made on first use (it needs the engine, so an app context)


STATE = select(func.max(Event.id))
log = logging.getLogger(__name__)


def newest_event() -> int:
    """The newest audit event (one indexed lookup).

    On a pooled connection of its own, not the ORM session: a lookup then never opens a session, which
    costs more than the lookup itself (about 0.1 ms against 0.4 ms).
    """
    with db.engine.connect() as connection:
        return connection.scalar(STATE) or 0


class EventState:
    """No cheaper signal (PostgreSQL without Redis, an in-memory SQLite): the newest event, on every hit."""

    def read(self) -> tuple:
        return ("event", newest_event())

    def changed(self) -> None:
        pass


class SQLiteState:
    """``PRAGMA data_version`` on a connection that only ever reads: it changes with every commit of any other
    connection (the pool's, other workers', the CLI's), and a connection that never writes sees them all. The
    pragma is a call into the SQLite library, no query plan and no pool: a few microseconds."""

    def __init__(self, path: str):
        self.uri = pathlib.Path(path).as_uri() + "?mode=rw"  # (never creates the file)
        self.lock = threading.Lock()
        self.pid = None
        self.connection = None
        self.seen = None  # (data_version, newest event) when last looked up

    def read(self) -> tuple:
        with self.lock:
            if self.pid != os.getpid():  # a connection is never shared with a forked child
                self.connection = sqlite3.connect(self.uri, uri=True, timeout=10, check_same_thread=False)
                self.connection.execute("PRAGMA query_only = ON")
                self.pid, self.seen = os.getpid(), None
            version = self.connection.execute("PRAGMA data_version").fetchone()[0]
            if self.seen is None or self.seen[0] != version:
                # Looked up after the version was read: a commit in between changes the version again.
                self.seen = (version, newest_event())
            return ("event", self.seen[1])

    def changed(self) -> None:
        pass  # the pragma sees every commit by itself


class RedisState:
    """A generation number in Redis shared by every worker and server, bumped after each commit that added an
    audit event; with the newest event looked up at most once a second as a safety net (see the docstring)."""

    RECHECK_SECONDS = 1.0
    TIMEOUTS: ClassVar[dict] = {"socket_timeout": 0.5, "socket_connect_timeout": 0.5}

    def __init__(self, url: str, key: str, *, clock=time.monotonic):
        import redis

        self.url, self.key, self.errors, self.clock = url, key, redis.RedisError, clock  # (a test moves the clock)
        self.redis = redis.Redis.from_url(url, **self.TIMEOUTS)
        self.local = threading.local()
        self.checked = (float("-inf"), 0)  # (monotonic time, newest event)
        self.failing = False

    def read(self) -> tuple:
        now = self.clock()
        if now - self.checked[0] >= self.RECHECK_SECONDS:
            self.checked = (now, newest_event())
        try:
            generation = self._get()
            if generation is None:
                # A new Redis, or the key evicted: start from a number no page was kept under.
                self.redis.set(self.key, secrets.randbits(52), nx=True)
                generation = self.redis.get(self.key)
        except self.errors as error:
            self._failed(error)
            return ("event", newest_event())  # never equal to a Redis state: no page made before is taken
        self.failing = False
        return ("redis", int(generation), self.checked[1])

    def _get(self) -> bytes | None:
        """GET through a client of this thread's own on one connection (single_connection_client: no trip through
        the pool on a call made on every hit), made again in a forked child. No retry: a failed GET answers this
        request from the database, and the next call connects again."""
        found = getattr(self.local, "client", None)
        if found is None or found[0] != os.getpid():
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            client = redis.Redis.from_url(
                self.url, single_connection_client=True, retry=Retry(NoBackoff(), 0), **self.TIMEOUTS
            )
            found = self.local.client = (os.getpid(), client)
        return found[1].get(self.key)

    def changed(self) -> None:
        try:
            self.redis.incr(self.key)
        except self.errors as error:
            self._failed(error)  # other workers see the change within RECHECK_SECONDS

    def _failed(self, error: Exception) -> None:
        if not self.failing:  # once, not on every request
            log.warning("page cache: Redis unavailable (%s), asking the database", type(error).__name__)
        self.failing = True


def redis_url(config) -> str | None:
    """PAGE_CACHE_REDIS_URL; unset, the rate limiter's Redis if it has one; false or "" for none."""
    url = config.get("PAGE_CACHE_REDIS_URL")
    if url is None:
        limiter = str(config.get("RATELIMIT_STORAGE_URI") or "")
        if limiter.startswith("redis+unix://"):  # (the limits library's name for a socket; redis-py's is unix://)
            limiter = "unix://" + limiter.removeprefix("redis+unix://")
        url = limiter if limiter.startswith(("redis://", "rediss://", "unix://")) else None
    return url or None


def state_source(app):
    source = app.extensions["pagecache.state"]
    if source is None:
        url = db.engine.url
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            source = SQLiteState(url.database)
        elif redis_url(app.config):
            # One number per site: every server of a site has its secret key, another site (staging) has not.
            site = derive_key(str(app.config["SECRET_KEY"]), "pagecache").hex()[:16]
            source = RedisState(redis_url(app.config), key=f"prystan:pagecache:{site}")
        else:
            source = EventState()
        app.extensions["pagecache.state"] = source
    return source


def site_state() -> tuple:
    """Changes whenever something readers see may have changed; costs no database round trip on SQLite, or
    on PostgreSQL with Redis."""
    return state_source(current_app).read()


# The app's session (requests and the CLI alike) tells the site state when a commit added an audit event. Only
# db.session's (its sessionmaker's class), not every SQLAlchemy session in the process: another's session is a
# write from outside, seen within the recheck like any other.
@event.listens_for(db.session, "after_flush")
def _note_events(session, _context) -> None:
    if any(isinstance(item, Event) for item in session.new):
        session.info["pagecache.changed"] = True


@event.listens_for(db.session, "after_commit")
def _announce_events(session) -> None:
    if session.info.pop("pagecache.changed", False) and has_app_context() and "pagecache" in current_app.extensions:
        state_source(current_app).changed()


@event.listens_for(db.session, "after_rollback")
def _forget_events(session) -> None:
    session.info.pop("pagecache.changed", None)


def next_expiry(state: tuple, now: datetime) -> datetime | None:
    """When the next live ad expires: looked up once per site state, and again once that moment has passed."""
    memos = current_app.extensions["pagecache.memos"]
    entry = memos.get("expiry")
    if entry is None or entry[0] != state or (entry[1] is not None and now >= entry[1]):
        found = db.session.scalar(select(func.min(Submission.expires_at)).where(Submission.is_live_ad(now)))
        entry = memos["expiry"] = (state, found)
    return entry[1]


# The query arguments readers' pages read (the ads' filters and the next page). A request with any other is
# answered but not kept: a flood of made-up arguments would otherwise push the real pages out of the cache.
READER_ARGS = frozenset({"q", "category", "city", "after"})


# The fragments of readers' pages (HX-Target): a request for any other is answered but not kept, as above.
READER_FRAGMENTS = frozenset({"ad-results"})


def fragment_asked() -> str | None:
    """What htmx's headers (HX-Request, HX-Boosted, HX-Target) change in a page, as fragments.wanted() reads them:
    None for the whole page (no htmx, or a boosted load), else the element a fragment was asked for ("": none
    named). Part of the key: a boosted load of /ads kept where its results fragment belongs would put a page in
    every reader's filtered list."""
    if not wanted():
        return None
    return htmx.target or ""


def cacheable() -> bool:
    return (
        current_app.extensions["pagecache"].size > 0
        and request.method == "GET"
        and "_user_id" not in session
        and "_flashes" not in session
        and READER_ARGS.issuperset(request.args.keys())
        and fragment_asked() in READER_FRAGMENTS | {None, ""}
    )


def memo(name: str, compute):
    """A value that changes only with the site, such as the cities of live ads: made once per site state
    and shared by every page made meanwhile. Outside a cached page (staff, no cache), made each time."""
    state = g.get("page_state")
    if state is None:
        return compute()
    memos = current_app.extensions["pagecache.memos"]
    entry = memos.get(name)
    if entry is None or entry[0] != state:
        entry = memos[name] = (state, compute())
    return entry[1]


def page_locale() -> str:
    """The request's language as get_locale() chooses it, without its babel Locale: a third of a hit's time.
    The app's choice (select_locale) depends on the language cookie and Accept-Language alone, so the answer is
    kept per pair of them (a bounded number: both come from clients)."""
    choices = current_app.extensions["pagecache.locales"]
    asked = (request.cookies.get(current_app.config["LANGUAGE_COOKIE_NAME"]), request.headers.get("Accept-Language"))
    found = choices.get(asked)
    if found is None:
        if len(choices) >= 1000:
            choices.clear()
        found = choices[asked] = str(get_locale())
    return found


def cached(view):
    """Serve the view's page from the cache while the site has not changed since it was made."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        g.pop("page_state", None)  # (an app context, and so g, may serve more than one request in tests)
        if not cacheable():
            return view(*args, **kwargs)
        # The host the request came in on is part of the key: a page made for the onion address (its absolute
        # links) is never served on the public one, whatever a Host header says (and only configured hosts and
        # local names get this far: TRUSTED_HOSTS). Finer than base_url(), and cheaper.
        key = (
            request.scheme,
            request.host,
            request.endpoint,
            request.full_path,
            page_locale(),
            fragment_asked(),
        )
        pages = current_app.extensions["pagecache"]
        state, now = site_state(), utcnow()  # read before rendering: a change meanwhile makes a new state
        entry = pages.get(key)
        if entry and entry[0] == state and (entry[1] is None or now < entry[1]):
            _state, _until, mimetype, body = entry
            return current_app.response_class(body, mimetype=mimetype)
        until = next_expiry(state, now)
        g.page_state = (state, until)
        response = make_response(view(*args, **kwargs))
        if response.status_code == 200 and not response.direct_passthrough:
            pages.put(key, (state, until, response.mimetype, response.get_data()))  # (bytes: encoded once)
        return response

    wrapper.page_cache = True  # (how tests find every cached view)
    return wrapper
