"""The schema is made by Alembic: the head matches the models, and every migration runs up and down."""

from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import func, inspect, select, text

from app import search
from app.extensions import db
from app.models import Attachment, Event, PublicAd, Submission, utcnow
from tests.helpers import make_app


@pytest.fixture
def empty_app(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():
        db.drop_all()
        with db.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    yield app
    with app.app_context():
        downgrade(revision="base")
        db.engine.dispose()


def declared(obj, name, type_, reflected, compare_to):
    """Leave out the full-text index, which the models do not declare (app/search.py makes it)."""
    return not (name or "").startswith(search.EXTRA_NAMES)


def differences():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": declared})
        return compare_metadata(context, db.metadata)


def tables():
    return {
        t
        for t in inspect(db.engine).get_table_names()
        if t != "alembic_version" and not t.startswith(search.EXTRA_NAMES)
    }


def test_head_matches_the_models_and_migrations_run_up_down_up(empty_app):
    with empty_app.app_context():
        upgrade()
        assert tables() == set(db.metadata.tables)
        assert differences() == []
        downgrade(revision="base")
        assert tables() == set()
        upgrade()
        assert differences() == []


def found(typed) -> set[int]:
    """(In an app context.) The ads whose public copies hold the words typed."""
    query = select(PublicAd.submission_id).join(Submission, Submission.id == PublicAd.submission_id)
    return set(db.session.scalars(query.where(search.find(typed).condition)))


def published(app, body: str) -> int:
    from tests.helpers import make_submission

    now = utcnow()
    return make_submission(
        app, "ad", status="approved", body=body, published_at=now, expires_at=now + timedelta(days=30)
    )[0]


def test_search_works_on_a_migrated_database(empty_app):
    """The index the migrations make (0015: over published ads' public copies; on PostgreSQL a stored column)
    finds new and edited texts, and nothing of an item still in the queue."""
    from tests.helpers import make_submission

    with empty_app.app_context():
        upgrade()
    first = published(empty_app, "Winter clothes for a family in Vilnius.")
    published(empty_app, "A lawyer for the appeal.")
    make_submission(empty_app, "ad", body="Winter boots for a family.")  # pending: sealed, in no index
    with empty_app.app_context():
        assert found("famil vilnius") == {first}
        assert found("family") == {first}
        db.session.get(PublicAd, first).body = "Shoes."
        db.session.commit()
        assert found("family") == set()
        assert found("shoes") == {first}


def test_upgrading_keeps_every_row_and_the_search_and_never_reuses_an_id(empty_app):
    """0009 rebuilds each table for AUTOINCREMENT: rows and their children survive (no cascade), and a withdrawn
    item's id is not given to the next one. Rows stored before 0015 keep their words in clear, read as before
    (the opener's legacy path), and a live ad gets its public copy, which the search finds."""
    from tests.helpers import receipt_from, staff_opener, texts

    with empty_app.app_context():
        upgrade(revision="0008")
        with db.engine.begin() as connection:

            def insert(**values) -> int:
                row = {"title": None, "city": None, "category": None, "published_at": None, "expires_at": None}
                row |= values | {"locale": "en", "show_contact": values["kind"] == "ad"}
                statement = (
                    "INSERT INTO submissions (kind, status, telegram, title, body, city, category, locale, created_at, "
                    "published_at, expires_at, receipt_digest, show_contact, version) VALUES (:kind, :status, "
                    ":telegram, :title, :body, :city, :category, :locale, :created_at, :published_at, :expires_at, "
                    ":receipt_digest, :show_contact, :version) RETURNING id"
                )
                return connection.execute(text(statement), row).scalar()

            old = insert(
                kind="information",
                status="pending",
                telegram="old_one",
                body="Boots for the winter",
                created_at="2026-11-20 10:00:00",
                receipt_digest="digest-1",
                version=1,
            )
            ad = {"kind": "ad", "status": "approved", "category": "goods", "version": 2}
            live = insert(
                **ad,
                telegram="sled_seller",
                title="Sledge",
                body="A wooden sledge for children",
                city="Minsk",
                created_at="2026-11-20 10:00:00",
                published_at="2026-11-21 10:00:00",
                expires_at="2099-01-01 00:00:00",
                receipt_digest="digest-2",
            )
            expired = insert(
                **ad,
                telegram="old_seller",
                title="Skates",
                body="Old sledge and skates",
                created_at="2026-01-01 10:00:00",
                published_at="2026-01-02 10:00:00",
                expires_at="2026-02-01 10:00:00",
                receipt_digest="digest-3",
            )
            connection.execute(
                text(
                    "INSERT INTO attachments (submission_id, storage_key, original_name, content_type, size, sha256, "
                    "public, previews) VALUES (:id, :key, 'a.jpg', 'image/jpeg', 10, 'x', false, 1)"
                ),
                {"id": old, "key": "a" * 32},
            )
        upgrade()
        assert differences() == []
        assert db.session.scalar(select(func.count()).select_from(Attachment)) == 1  # no cascade on rebuild
        copy = db.session.get(PublicAd, live)
        assert (copy.title, copy.body, copy.city, copy.telegram) == (
            "Sledge",
            "A wooden sledge for children",
            "Minsk",
            "sled_seller",
        )
        assert db.session.get(PublicAd, expired) is None and db.session.get(PublicAd, old) is None
        assert found("sledge") == {live}  # the index was made from the copies
    words = texts(empty_app, old)  # a clear row reads as before, until `flask crypto migrate` seals it
    assert (words.telegram, words.body) == ("old_one", "Boots for the winter")
    with empty_app.app_context():
        assert staff_opener().attachment(db.session.scalars(select(Attachment)).one()) == ("a.jpg", "x")
    client = empty_app.test_client()
    page = client.post("/submit/information", data={"telegram": "newest_one", "body": "The newest text."})
    code = receipt_from(page.get_data(as_text=True))
    with empty_app.app_context():
        withdrawn = db.session.scalar(select(func.max(Submission.id)))
    client.post("/status/withdraw", data={"code": code, "confirm": "y"})
    newest = published(empty_app, "Sent after the withdrawal.")
    assert newest > withdrawn > expired > old  # never the withdrawn item's id again
    with empty_app.app_context():
        assert db.session.scalars(select(Event.action).where(Event.submission_id == newest)).all() == ["submitted"]
        assert found("withdrawal") == {newest}  # the index's triggers follow new copies


def test_the_cases_migration_makes_approved_information_and_contacts_open_cases(empty_app):
    """Upgrading from the revision before cases: approved tips and offers become open cases, assigned to whoever
    approved them; an approved ad stays an ad; the username may be forgotten from then on."""
    with empty_app.app_context():
        upgrade(revision="0011")
        with db.engine.begin() as connection:
            olga = connection.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, totp_required, must_change_password, active,"
                    " session_version, created_at) VALUES ('olga', 'x', 'moderator', false, false, true, 1,"
                    " '2026-01-01') RETURNING id"
                )
            ).scalar()
            ids = {}
            for kind in ("information", "contact", "ad"):
                ids[kind] = connection.execute(
                    text(
                        "INSERT INTO submissions (public_id, kind, status, telegram, body, locale, created_at,"
                        " decided_at, decided_by_id, show_contact, receipt_digest, version) VALUES (:public, :kind,"
                        " 'approved', 'anna_k1', 'text', 'en', '2026-01-01', '2026-01-02', :olga, false, :digest, 2)"
                        " RETURNING id"
                    ),
                    {"public": f"abcdefghijk{len(ids) + 2}", "kind": kind, "olga": olga, "digest": kind},
                ).scalar()
        upgrade()
        assert differences() == []
        items = {s.kind: s for s in db.session.scalars(select(Submission))}
        assert items["information"].is_open_case and items["contact"].is_open_case
        assert items["information"].assigned_to_id == olga and items["contact"].assigned_to_id == olga
        assert not items["ad"].is_case and items["ad"].assigned_to_id is None
        items["contact"].telegram = None  # nullable now: a done case can forget its contact
        db.session.commit()
        db.session.remove()
