"""reveals: who asked to see a submitter's Telegram username, when, and why (sealed to the queue epoch)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 14:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "reveals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["epoch_id"], ["queue_epochs.id"], name=op.f("fk_reveals_epoch_id_queue_epochs")),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_reveals_submission_id_submissions"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_reveals_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reveals")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("reveals") as batch_op:
        batch_op.create_index(batch_op.f("ix_reveals_submission_id"), ["submission_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reveals_user_id"), ["user_id"], unique=False)


def downgrade():
    op.drop_table("reveals")
