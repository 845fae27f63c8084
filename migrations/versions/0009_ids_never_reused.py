"""ids are never reused on SQLite (AUTOINCREMENT), so a new item never takes a deleted one's id and history

SQLite gives a new row the largest id + 1: once the newest item is withdrawn, the next one gets its id, and with
it the audit events that name that id ("sent it · withdrew it · sent it"). AUTOINCREMENT can only be set when a
table is made, so each table is rebuilt (foreign keys are off meanwhile: migrations/env.py). Rebuilding
``submissions`` drops the full-text triggers: they are made again and the index rebuilt. PostgreSQL's sequences
never hand out an id twice: nothing to do there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 03:20:00

"""
from alembic import op

from app import legacy_search as search

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

TABLES = ("users", "submissions", "attachments", "articles", "events", "reports")


def rebuild(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass
    search.create(bind)  # the triggers went with the old table; 'rebuild' fills the index from the rows


def upgrade():
    rebuild(True)


def downgrade():
    rebuild(False)
