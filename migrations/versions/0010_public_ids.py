"""random public ids for what readers see (ads and their images), instead of row ids that count submissions

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 03:30:00

"""
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # as app/models.py, written out: a migration keeps its own record


def new_id() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(12))


def upgrade():
    bind = op.get_bind()
    for table in ("submissions", "attachments"):
        op.add_column(table, sa.Column('public_id', sa.String(length=12), nullable=True))
        ids = bind.execute(sa.text(f"SELECT id FROM {table}")).scalars().all()
        for row_id in ids:
            bind.execute(sa.text(f"UPDATE {table} SET public_id = :public WHERE id = :id"),
                         {"public": new_id(), "id": row_id})
        # (On SQLite this rebuilds the table: keep 0009's AUTOINCREMENT.)
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
            batch_op.alter_column('public_id', existing_type=sa.String(length=12), nullable=False)
            batch_op.create_unique_constraint(f'uq_{table}_public_id', ['public_id'])
    if bind.dialect.name == "sqlite":  # the batch rebuild of submissions dropped the full-text triggers
        from app import legacy_search as search

        search.create(bind)


def downgrade():
    bind = op.get_bind()
    for table in ("attachments", "submissions"):
        with op.batch_alter_table(table, table_kwargs={"sqlite_autoincrement": True}) as batch_op:
            batch_op.drop_constraint(f'uq_{table}_public_id', type_='unique')
            batch_op.drop_column('public_id')
    if bind.dialect.name == "sqlite":
        from app import legacy_search as search

        search.create(bind)
