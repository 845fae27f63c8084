"""full-text search over titles and texts (SQLite FTS5, PostgreSQL GIN)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:50:00

"""
from alembic import op

from app import legacy_search as search


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


# What this revision made on PostgreSQL; 0007 replaced it with a stored column.
POSTGRESQL_INDEX = ("CREATE INDEX IF NOT EXISTS ix_submissions_search ON submissions USING gin "
                    "((to_tsvector('simple', coalesce(submissions.title, '') || ' ' || submissions.body)))")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        search.create(bind)
    else:
        op.execute(POSTGRESQL_INDEX)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        search.drop(bind)
    else:
        op.execute("DROP INDEX IF EXISTS ix_submissions_search")
