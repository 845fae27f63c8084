"""clocks: when an item last entered the queue, and when an open case was last worked on

Rows stored before start their clocks at this upgrade (a full period from now), so that no item is deleted by the
next purge without having shown its "deleted on … unless renewed" for a week first.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 14:30:00

"""

import sqlalchemy as sa
from alembic import op

from app.models import utcnow

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

NEVER_REUSE = {"sqlite_autoincrement": True}


def upgrade():
    with op.batch_alter_table("submissions", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.add_column(sa.Column("queued_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("touched_at", sa.DateTime(), nullable=True))
    submissions = sa.table(
        "submissions",
        sa.column("queued_at", sa.DateTime()),
        sa.column("touched_at", sa.DateTime()),
        sa.column("status", sa.String()),
        sa.column("kind", sa.String()),
        sa.column("done_at", sa.DateTime()),
        sa.column("created_at", sa.DateTime()),
    )
    now = utcnow()
    op.execute(submissions.update().values(queued_at=submissions.c.created_at))
    op.execute(submissions.update().where(submissions.c.status == "pending").values(queued_at=now))
    open_case = sa.and_(submissions.c.kind != "ad", submissions.c.status == "approved", submissions.c.done_at.is_(None))
    op.execute(submissions.update().where(open_case).values(touched_at=now))
    with op.batch_alter_table("submissions", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.alter_column("queued_at", existing_type=sa.DateTime(), nullable=False)
        batch_op.create_index("ix_submissions_queued", ["status", "queued_at"], unique=False)


def downgrade():
    with op.batch_alter_table("submissions", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.drop_index("ix_submissions_queued")
        batch_op.drop_column("touched_at")
        batch_op.drop_column("queued_at")
