"""the number of previews stored with each attachment (a PDF's first pages, an image's thumbnail)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 03:30:00

"""
import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('previews', sa.Integer(), nullable=False, server_default='0'))
    # Until now every image had one thumbnail and no other file had any.
    op.execute("UPDATE attachments SET previews = 1 WHERE content_type LIKE 'image/%'")


def downgrade():
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.drop_column('previews')
