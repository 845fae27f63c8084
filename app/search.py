"""Full-text search in titles and texts of submissions: one interface over SQLite FTS5 and PostgreSQL.

``matches(text)`` is a condition on Submission for the words typed: every word must occur, as a word or
the start of one ("bicy" finds "Bicycle"), in any case and, on SQLite, with or without diacritics.

- SQLite: an FTS5 index (``submissions_fts``) kept in step with the table by triggers. Deleted rows leave
  the index at once, and ``forget()`` rewrites the index so that no word of a deleted text stays in the file.
- PostgreSQL: a GIN index on the same expression the query uses, with the 'simple' configuration (no
  stemming: the texts are in three languages).
"""

from __future__ import annotations

import re

from sqlalchemy import DDL, event, false, literal_column, select, text

from app.extensions import db
from app.models import Submission

MAX_WORDS = 8
VECTOR_SQL = "to_tsvector('simple', coalesce(submissions.title, '') || ' ' || submissions.body)"

SQLITE_DDL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS submissions_fts USING fts5(title, body, content='submissions', "
    "content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS submissions_fts_insert AFTER INSERT ON submissions BEGIN "
    "INSERT INTO submissions_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
    "CREATE TRIGGER IF NOT EXISTS submissions_fts_delete AFTER DELETE ON submissions BEGIN "
    "INSERT INTO submissions_fts(submissions_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS submissions_fts_update AFTER UPDATE OF title, body ON submissions BEGIN "
    "INSERT INTO submissions_fts(submissions_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body); "
    "INSERT INTO submissions_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS submissions_fts_update", "DROP TRIGGER IF EXISTS submissions_fts_delete",
               "DROP TRIGGER IF EXISTS submissions_fts_insert", "DROP TABLE IF EXISTS submissions_fts"]
POSTGRESQL_DDL = [f"CREATE INDEX IF NOT EXISTS ix_submissions_search ON submissions USING gin (({VECTOR_SQL}))"]
POSTGRESQL_DROP = ["DROP INDEX IF EXISTS ix_submissions_search"]
# Names the models do not declare: the migration check leaves them out.
EXTRA_NAMES = ("submissions_fts", "ix_submissions_search")


def create(connection) -> None:
    """Create the index structures (used by the migration and by create_all in tests)."""
    statements = SQLITE_DDL if connection.dialect.name == "sqlite" else POSTGRESQL_DDL
    for statement in statements:
        connection.execute(text(statement))
    if connection.dialect.name == "sqlite":
        connection.execute(text("INSERT INTO submissions_fts(submissions_fts) VALUES ('rebuild')"))


def drop(connection) -> None:
    for statement in SQLITE_DROP if connection.dialect.name == "sqlite" else POSTGRESQL_DROP:
        connection.execute(text(statement))


@event.listens_for(Submission.__table__, "after_create")
def _after_create(_table, connection, **_kw):
    create(connection)


@event.listens_for(Submission.__table__, "before_drop")
def _before_drop(_table, connection, **_kw):
    drop(connection)


def words(typed: str) -> list[str]:
    return re.findall(r"\w+", (typed or "").casefold())[:MAX_WORDS]


def matches(typed: str):
    """A condition on Submission: every typed word occurs in its title or text. No words: nothing."""
    terms = words(typed)
    if not terms:
        return false()
    if db.session.get_bind().dialect.name == "sqlite":
        query = " ".join(f'"{term}"*' for term in terms)  # \w+ holds no quote: each term is a plain token
        found = select(literal_column("rowid")).select_from(text("submissions_fts")).where(
            text("submissions_fts MATCH :fts_query").bindparams(fts_query=query))
        return Submission.id.in_(found)
    query = " & ".join(f"{term}:*" for term in terms)
    return literal_column(VECTOR_SQL).op("@@")(text("to_tsquery('simple', :ts_query)").bindparams(ts_query=query))


def forget() -> None:
    """Rewrite the SQLite index so that the words of deleted texts are gone from the file, not only hidden."""
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.execute(text("INSERT INTO submissions_fts(submissions_fts) VALUES ('optimize')"))
        db.session.commit()
