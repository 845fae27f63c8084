"""keys for sealing at rest: staff key pairs, the queue key in epochs and their wraps, sign-ins waiting for a
second factor and unlocked sessions, what the keys remember (the recovery key's fingerprint), the demo's items

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 07:13:14

"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "key_settings",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_key_settings")),
    )
    op.create_table(
        "queue_epochs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queue_epochs")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "epoch_wraps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("holder", sa.String(length=16), nullable=False),
        sa.Column("sealed", sa.LargeBinary(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["epoch_id"], ["queue_epochs.id"], name=op.f("fk_epoch_wraps_epoch_id_queue_epochs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_epoch_wraps_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_epoch_wraps")),
        sa.UniqueConstraint("epoch_id", "user_id", "holder", name=op.f("uq_epoch_wraps_epoch_id")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("epoch_wraps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_epoch_wraps_epoch_id"), ["epoch_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_epoch_wraps_user_id"), ["user_id"], unique=False)

    op.create_table(
        "pending_unlocks",
        sa.Column("id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_pending_unlocks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_unlocks")),
    )
    with op.batch_alter_table("pending_unlocks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_unlocks_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_pending_unlocks_user_id"), ["user_id"], unique=False)

    op.create_table(
        "unlocked_sessions",
        sa.Column("id", sa.LargeBinary(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(length=128), nullable=False),
        sa.Column("idle_until", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_unlocked_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unlocked_sessions")),
    )
    with op.batch_alter_table("unlocked_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unlocked_sessions_idle_until"), ["idle_until"], unique=False)
        batch_op.create_index(batch_op.f("ix_unlocked_sessions_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("public_key", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("locked_key", sa.LargeBinary(length=256), nullable=True))


    op.create_table(
        "demo_items",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_demo_items_submission_id_submissions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_demo_items")),
    )


def downgrade():
    op.drop_table("demo_items")
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("locked_key")
        batch_op.drop_column("public_key")

    with op.batch_alter_table("unlocked_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unlocked_sessions_user_id"))
        batch_op.drop_index(batch_op.f("ix_unlocked_sessions_idle_until"))

    op.drop_table("unlocked_sessions")
    with op.batch_alter_table("pending_unlocks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_unlocks_user_id"))
        batch_op.drop_index(batch_op.f("ix_pending_unlocks_expires_at"))

    op.drop_table("pending_unlocks")
    with op.batch_alter_table("epoch_wraps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_epoch_wraps_user_id"))
        batch_op.drop_index(batch_op.f("ix_epoch_wraps_epoch_id"))

    op.drop_table("epoch_wraps")
    op.drop_table("queue_epochs")
    op.drop_table("key_settings")
