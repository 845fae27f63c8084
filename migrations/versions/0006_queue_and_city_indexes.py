"""indexes for the whole queue in order and for the cities of live ads

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:20:00

"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.create_index('ix_submissions_queue_all', ['status', 'created_at', 'id'], unique=False)
        batch_op.create_index('ix_submissions_cities', ['kind', 'status', 'city', 'expires_at', 'closed_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_submissions_cities')
        batch_op.drop_index('ix_submissions_queue_all')
