"""hidden messages: a staff message its sender hid at /status is sealed again to the queue epoch alone

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 15:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("hidden_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("epoch_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_messages_epoch_id_queue_epochs"), "queue_epochs", ["epoch_id"], ["id"]
        )


def downgrade():
    # A hidden message opens with the queue key alone: its text goes, as a receipt could not read it anyway.
    op.get_bind().execute(sa.text("DELETE FROM messages WHERE hidden_at IS NOT NULL"))
    with op.batch_alter_table("messages", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_messages_epoch_id_queue_epochs"), type_="foreignkey")
        batch_op.drop_column("epoch_id")
        batch_op.drop_column("hidden_at")
