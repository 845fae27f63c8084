"""PostgreSQL: search a stored tsvector column instead of an index on an expression

The GIN index on the expression found candidates, but PostgreSQL then computed each candidate's vector again
from its text to check it: a search for a common word cost about 100 ms at 100k items. SQLite is unchanged.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 21:10:00

"""
from alembic import op

from app import legacy_search as search


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

# The index 0005 made (migrations keep their own copy of what they undo).
EXPRESSION_INDEX = ("CREATE INDEX IF NOT EXISTS ix_submissions_search ON submissions USING gin "
                    "((to_tsvector('simple', coalesce(submissions.title, '') || ' ' || submissions.body)))")


def upgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_submissions_search")
        search.create(bind)


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        search.drop(bind)
        op.execute(EXPRESSION_INDEX)
