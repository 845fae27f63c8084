"""sealed files: each stored file's own key, sealed to its submission (the files themselves are encrypted in storage)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 11:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("attachments", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("file_key", sa.LargeBinary(length=128), nullable=True))


def downgrade():
    # An encrypted file cannot be read without its key: such attachments go (their files stay until gc).
    op.get_bind().execute(sa.text("DELETE FROM attachments WHERE file_key IS NOT NULL"))
    with op.batch_alter_table("attachments", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("file_key")
