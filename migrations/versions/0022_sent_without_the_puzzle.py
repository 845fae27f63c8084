"""sent without the puzzle: a form or report sent on the onion without a solved proof of work waits in a queue tab
of its own (issue 29)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 16:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("submissions", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("unproved", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index("ix_submissions_unproved", ["unproved", "status"], unique=False)
    with op.batch_alter_table("reports", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column("unproved", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade():
    # A report nobody counted goes (the version before has no place for it); an item stays, in the queue.
    op.get_bind().execute(sa.text("DELETE FROM reports WHERE unproved"))
    with op.batch_alter_table("reports", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("unproved")
    with op.batch_alter_table("submissions", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_index("ix_submissions_unproved")
        batch_op.drop_column("unproved")
