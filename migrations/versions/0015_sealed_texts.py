"""sealed texts: each submission's key and sealed fields, sealed messages, notes, report notes and file names,
published ads' public copies, and the full-text index moved from the submissions to those copies

Rows stored before keep their words in clear (readable as before) until `flask crypto migrate` seals them; live
ads get their public copy here, from those clear words.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:40:00

"""

import sqlalchemy as sa
from alembic import op

from app import legacy_search, search
from app.models import utcnow

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

NEVER_REUSE = {"sqlite_autoincrement": True}


def upgrade():
    bind = op.get_bind()
    legacy_search.drop(bind)
    with op.batch_alter_table("submissions", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.add_column(sa.Column("epoch_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("public_key", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("key_for_queue", sa.LargeBinary(length=128), nullable=True))
        batch_op.add_column(sa.Column("key_for_receipt", sa.LargeBinary(length=128), nullable=True))
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_reject_note", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_before_edit", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_submissions_epoch_id_queue_epochs"), "queue_epochs", ["epoch_id"], ["id"]
        )
        batch_op.drop_index("ix_submissions_cities")
    with op.batch_alter_table("attachments", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("original_name", existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=True)
    with op.batch_alter_table("messages", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=True)
    for table in ("notes", "reports"):
        with op.batch_alter_table(table, table_kwargs=NEVER_REUSE) as batch_op:
            batch_op.add_column(sa.Column("epoch_id", sa.Integer(), nullable=True))
            batch_op.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_epoch_id_queue_epochs"), "queue_epochs", ["epoch_id"], ["id"])
            if table == "notes":
                batch_op.alter_column("body", existing_type=sa.Text(), nullable=True)
    op.create_table(
        "public_ads",
        sa.Column("submission_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("city", sa.String(length=60), nullable=True),
        sa.Column("telegram", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["submission_id"], ["submissions.id"], name=op.f("fk_public_ads_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("submission_id", name=op.f("pk_public_ads")),
    )
    op.create_index("ix_public_ads_city", "public_ads", ["city"], unique=False)
    # The ads live now, from their clear words (every row is clear before this revision).
    bind.execute(sa.text(
        "INSERT INTO public_ads (submission_id, title, body, city, telegram) "
        "SELECT id, coalesce(title, ''), coalesce(body, ''), city, CASE WHEN show_contact THEN telegram END "
        "FROM submissions WHERE kind = 'ad' AND status = 'approved' AND closed_at IS NULL "
        "AND expires_at > :now"
    ).bindparams(now=utcnow()))
    search.create(bind)


def downgrade():
    bind = op.get_bind()
    # Sealed rows cannot go back to a schema that has only clear columns: they are deleted.
    bind.execute(sa.text("DELETE FROM submissions WHERE public_key IS NOT NULL"))
    bind.execute(sa.text("DELETE FROM attachments WHERE sealed IS NOT NULL"))
    bind.execute(sa.text("DELETE FROM messages WHERE sealed IS NOT NULL"))
    bind.execute(sa.text("DELETE FROM notes WHERE sealed IS NOT NULL"))
    bind.execute(sa.text("UPDATE reports SET note = '' WHERE sealed IS NOT NULL"))
    search.drop(bind)
    op.drop_index("ix_public_ads_city", table_name="public_ads")
    op.drop_table("public_ads")
    for table in ("reports", "notes"):
        with op.batch_alter_table(table, table_kwargs=NEVER_REUSE) as batch_op:
            if table == "notes":
                batch_op.alter_column("body", existing_type=sa.Text(), nullable=False)
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_epoch_id_queue_epochs"), type_="foreignkey")
            batch_op.drop_column("sealed")
            batch_op.drop_column("epoch_id")
    with op.batch_alter_table("messages", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("sealed")
    with op.batch_alter_table("attachments", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.alter_column("sha256", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("original_name", existing_type=sa.String(length=255), nullable=False)
        batch_op.drop_column("sealed")
    with op.batch_alter_table("submissions", table_kwargs=NEVER_REUSE) as batch_op:
        batch_op.create_index(
            "ix_submissions_cities", ["kind", "status", "city", "expires_at", "closed_at"], unique=False
        )
        batch_op.drop_constraint(batch_op.f("fk_submissions_epoch_id_queue_epochs"), type_="foreignkey")
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=False)
        for column in (
            "sealed_before_edit", "sealed_reject_note", "sealed", "key_for_receipt", "key_for_queue", "public_key",
            "epoch_id",
        ):
            batch_op.drop_column(column)
    legacy_search.create(bind)
