"""No N+1: the number of SQL queries per page is fixed and does not grow with the number of rows shown."""

import io
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app import articles
from app.audit import record
from app.extensions import db
from app.models import Attachment, Submission, User
from tests import files
from tests.helpers import approve, login, make_user, staff_opener


@contextmanager
def counted(app):
    statements = []
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith(("PRAGMA", "SAVEPOINT", "RELEASE")):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def signed_in_once(app, username: str, role: str) -> int:
    """An account that has signed in once: it holds a key pair, so what arrives from now on is sealed to it too."""
    user_id = make_user(app, username, role)
    with app.app_context():
        staff_opener(username)
    return user_id


def fill(app, client, admin: int, n: int) -> None:
    """n ads with a public photo each (approved by ``admin``), n pending items of each kind, and n articles."""
    for i in range(n):
        client.post(
            "/submit/ad",
            content_type="multipart/form-data",
            data={
                "telegram": f"seller_{n}_{i}",
                "title": f"Ad {i}",
                "category": "goods",
                "body": f"Text {i}",
                "attachments": [(io.BytesIO(files.jpeg(size=(40 + i, 30))), "p.jpg")],
            },
        )
        client.post("/submit/information", data={"telegram": f"witness_{n}_{i}", "body": f"Tip {i}"})
    with app.app_context():
        user = db.session.get(User, admin)
        pending_ads = db.select(Submission).where(Submission.kind == "ad", Submission.status == "pending")
        for ad in db.session.scalars(pending_ads).all():
            photo = db.session.scalars(db.select(Attachment.id).where(Attachment.submission_id == ad.id)).first()
            approve(ad.id, ad.version, user, public_images=[photo])
        for i in range(n):
            articles.save(
                None, title=f"Article {i}", slug="", summary="s", body="b", locale="en", publish=True, author=user
            )
        for ad in db.session.scalars(db.select(Submission).where(Submission.kind == "ad")).all():
            record("reported", ad.id)  # history rows too
        db.session.commit()


PAGES = [
    "/",
    "/ads",
    "/ads?category=goods&q=ad",
    "/articles",
    "/ads/feed.atom",
    "/articles/feed.atom",
    "/moderation",
    "/moderation?kind=ad&status=approved",
    "/moderation/counts",
    "/admin/audit",
]


def queries_per_page(app, admin: int, n: int) -> dict[str, int]:
    client = app.test_client()
    fill(app, client, admin, n)
    assert login(client, "olga").status_code == 303
    result = {}
    for url in PAGES:
        with counted(app) as statements:
            assert client.get(url).status_code == 200, url
        result[url] = len(statements)
    return result


@pytest.mark.parametrize("app_config", [{"POW_ENABLED": False}])
def test_queries_per_page_do_not_grow_with_the_rows_shown(app, monkeypatch):
    # A staff request clears timed-out keys at most once a minute, whichever page it is (a fixed few queries): not
    # a page's own, and whether this test's first page does it depends on the tests run before it.
    monkeypatch.setattr("app.sessions._cleared_at", float("inf"))
    # Both hold a key pair before anything arrives, so every item is sealed to the one epoch they hold: a page
    # opens each epoch once (one query), however many of its items it shows.
    boss = signed_in_once(app, "boss", "admin")
    signed_in_once(app, "olga", "admin")
    few = queries_per_page(app, boss, 2)
    many = queries_per_page(app, boss, 12)
    for url in PAGES:
        assert many[url] == few[url], (url, few[url], many[url])
        assert many[url] <= 12, (url, many[url])
