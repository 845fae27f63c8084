"""staff reads: who read which item (its page, a file, a preview) or searched the queue, by the hour

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-05 14:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "staff_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_staff_reads_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_reads")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("staff_reads") as batch_op:
        batch_op.create_index("ix_staff_reads_seen", ["user_id", "kind", "hour", "submission_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_reads_submission_id"), ["submission_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_staff_reads_hour"), ["hour"], unique=False)


def downgrade():
    op.drop_table("staff_reads")
