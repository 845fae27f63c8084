"""Full-text search in published ads' public copies through one interface (SQLite FTS5, PostgreSQL full-text):
words and word starts, any case, every word required; only what readers may see is indexed; the index follows
edits and deletions, and forgets deleted texts for real."""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app import search
from app.extensions import db
from app.models import PublicAd, Submission, utcnow
from app.submissions import public_copy
from tests.helpers import make_submission

UNIQUE = "Zyxwvutsrqp"


def published(app, title: str, body: str, **fields) -> tuple[int, str]:
    """An approved ad, live for a month: its public copy is what the index holds."""
    now = utcnow()
    return make_submission(
        app,
        "ad",
        status="approved",
        title=title,
        body=body,
        published_at=now,
        expires_at=now + timedelta(days=30),
        **fields,
    )


def found(app, typed: str) -> set[str]:
    with app.app_context():
        query = select(PublicAd.title).join(Submission, Submission.id == PublicAd.submission_id)
        return set(db.session.scalars(query.where(search.find(typed).condition)))


@pytest.fixture
def items(app):
    published(app, "Bicycle for a child", "Blue, 20 inch wheels.")
    published(app, "Квартира у вакзала", "Две комнаты, мебель.")
    published(app, "Пасылкі", "Калонія вярнула пасылку з вопраткай.")
    published(app, "Letters", "We write letters to the colony every week.")


def test_a_single_letter_is_a_whole_word_not_the_start_of_every_word(app):
    """ "сям'я" is two words to the index, "сям" and "я": "я" alone must not mean every word starting with я."""
    published(app, "Сям'я", "Сям'я шукае працу.")
    published(app, "Яблыкі", "Яблыкі з саду.")
    assert found(app, "сям'я") == {"Сям'я"}
    assert found(app, "я") == {"Сям'я"}
    assert found(app, "ябл") == {"Яблыкі"}


@pytest.mark.usefixtures("items")
def test_words_and_word_starts_in_any_case(app):
    assert found(app, "bicycle") == {"Bicycle for a child"}
    assert found(app, "BICY") == {"Bicycle for a child"}
    assert found(app, "wheels") == {"Bicycle for a child"}
    assert found(app, "КВАРТИРА") == {"Квартира у вакзала"}
    assert found(app, "комнат") == {"Квартира у вакзала"}
    assert found(app, "калонія") == {"Пасылкі"}
    assert found(app, "letters colony") == {"Letters"}  # every word must occur
    assert found(app, "letters bicycle") == set()


def test_only_published_ads_are_indexed(app):
    """A pending or rejected ad's words, and those of information and contacts, are sealed: in no index."""
    published(app, "Piano lessons", "Lessons at home.")
    make_submission(app, "ad", title="Piano for sale", body="An old piano.")
    make_submission(app, "ad", status="rejected", title="Piano tuner", body="Tuning.")
    make_submission(app, title="Piano", body="A piano was taken.")
    assert found(app, "piano") == {"Piano lessons"}


def test_no_searchable_word_finds_nothing_and_nothing_breaks_the_query(app):
    for typed in ("", "   ", "%", "*", '"', "AND OR NOT", "a:b & c | !d", "(", "NEAR(x y)", "\x00"):
        result = found(app, typed)
        assert isinstance(result, set)
    assert found(app, "%") == set() and found(app, '"') == set()


def test_the_index_follows_edits_and_deletions(app):
    item, _ = published(app, "Sofa", "Green sofa.")
    assert found(app, "green") == {"Sofa"}
    with app.app_context():
        db.session.get(PublicAd, item).body = "Red sofa."
        db.session.commit()
    assert found(app, "green") == set() and found(app, "red") == {"Sofa"}
    with app.app_context():  # the ad leaves the site (closed, returned to the queue, ...): its copy goes
        public_copy.erase(item)
        db.session.commit()
    assert found(app, "red") == set()
    other, _ = published(app, "Chair", "Red chair.")
    assert found(app, "red") == {"Chair"}
    with app.app_context():  # deleted with its ad
        db.session.delete(db.session.get(Submission, other))
        db.session.commit()
    assert found(app, "red") == set()


def test_withdrawn_text_leaves_no_word_in_the_database_file(app, client):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("the file check is for SQLite; PostgreSQL's index follows deletions by itself")
    _item, code = published(app, "Forget me", f"Please forget {UNIQUE} soon.")
    for n in range(30):  # other rows, so that the index has several segments
        published(app, f"Filler {n}", f"Filler text {n}")
    assert found(app, UNIQUE.lower()) == {"Forget me"}
    assert UNIQUE.lower().encode() in database_bytes(app).lower()  # in clear in its public copy, while published
    assert client.post("/status/withdraw", data={"code": code, "confirm": "y"}).status_code == 200
    assert found(app, UNIQUE.lower()) == set()
    assert UNIQUE.lower().encode() not in database_bytes(app).lower()


def database_bytes(app) -> bytes:
    with app.app_context():
        db.session.execute(db.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        db.session.commit()
        path = db.engine.url.database
    return Path(path).read_bytes() + (Path(path + "-wal").read_bytes() if os.path.exists(path + "-wal") else b"")


def test_a_common_word_can_be_looked_up_within_a_range_of_ids(app, monkeypatch):
    """What the stretches of a long list (/ads) rely on: within(lo, hi) holds for the matches in that range only."""
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("SQLite only: PostgreSQL walks the list's own index, checking each row's stored vector")
    monkeypatch.setattr("app.search.FEW", 2)
    ids = [published(app, f"{'Winter' if n % 2 else 'Summer'} coat {n}", "Warm.")[0] for n in range(10)]
    with app.app_context():
        common = search.find("coat")
        assert not common.few

        def within(typed, lo, hi):
            condition = search.find(typed).within(lo, hi)
            return set(db.session.scalars(select(Submission.id).where(condition)))

        assert within("coat", ids[2], ids[5]) == set(ids[2:6])
        assert within("winter coat", ids[2], ids[5]) == {ids[3], ids[5]}
        assert within("coat", ids[-1] + 1, ids[-1] + 9) == set()


def test_postgresql_plans_each_search_for_its_own_words(app):
    """psycopg prepares a statement after five runs; PostgreSQL's generic plan for it would then serve every
    word alike, slow either for a word found everywhere or for one found nowhere."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("PostgreSQL only: SQLite has no plan cache across values")
    with app.app_context():
        for _ in range(2):  # a new connection and one back from the pool
            with db.engine.connect() as connection:
                assert connection.exec_driver_sql("SHOW plan_cache_mode").scalar() == "force_custom_plan"
