"""receipt rekeys: a receipt issued before sealing, used since, waits here (its key sealed to the queue epoch) for an
unlocked reader to close the item's key under it

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 13:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "receipt_rekeys",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["epoch_id"], ["queue_epochs.id"], name=op.f("fk_receipt_rekeys_epoch_id_queue_epochs")
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_receipt_rekeys_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_receipt_rekeys")),
    )


def downgrade():
    op.drop_table("receipt_rekeys")
