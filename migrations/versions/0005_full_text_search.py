"""full-text search over titles and texts (SQLite FTS5, PostgreSQL GIN)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:50:00

"""
from alembic import op

from app import search


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    search.create(op.get_bind())


def downgrade():
    search.drop(op.get_bind())
