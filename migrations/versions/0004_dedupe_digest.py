"""the same submission sent twice is stored once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_digest', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_submissions_dedupe_digest', ['dedupe_digest'], unique=False)


def downgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_dedupe_digest')
        batch_op.drop_column('dedupe_digest')
