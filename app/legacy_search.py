"""The full-text index over the submissions themselves, as migrations 0005 to 0014 kept it (0015 drops it: what the
sender writes is sealed since, and only published ads' public copies are indexed, app/search.py). Kept for those
migrations, which must build the schema of their time, and for 0015's downgrade; nothing else uses it."""

from sqlalchemy import text

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
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS submissions_fts_update",
    "DROP TRIGGER IF EXISTS submissions_fts_delete",
    "DROP TRIGGER IF EXISTS submissions_fts_insert",
    "DROP TABLE IF EXISTS submissions_fts",
]
POSTGRESQL_DDL = [
    "ALTER TABLE submissions ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', coalesce(title, '') || ' ' || body)) STORED",
    "CREATE INDEX IF NOT EXISTS ix_submissions_search ON submissions USING gin (search_vector)",
]
POSTGRESQL_DROP = [
    "DROP INDEX IF EXISTS ix_submissions_search",
    "ALTER TABLE submissions DROP COLUMN IF EXISTS search_vector",
]


def create(connection) -> None:
    statements = SQLITE_DDL if connection.dialect.name == "sqlite" else POSTGRESQL_DDL
    for statement in statements:
        connection.execute(text(statement))
    if connection.dialect.name == "sqlite":
        connection.execute(text("INSERT INTO submissions_fts(submissions_fts) VALUES ('rebuild')"))


def drop(connection) -> None:
    for statement in SQLITE_DROP if connection.dialect.name == "sqlite" else POSTGRESQL_DROP:
        connection.execute(text(statement))
