"""cases and a private thread: assignee, done time and unread answers on a submission; notes and messages; a
username that can be forgotten; an owner's edit awaiting review

Approved information and contacts become open cases: taken on (approved), not yet done (done_at NULL).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 07:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    op.create_table(
        'messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('from_staff', sa.Boolean(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_messages_author_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_messages_submission_id_submissions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_messages_submission_id'), 'messages', ['submission_id'], unique=False)
    op.create_table(
        'notes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('submission_id', sa.Integer(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_notes_author_id_users'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_notes_submission_id_submissions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f('ix_notes_submission_id'), 'notes', ['submission_id'], unique=False)
    # (On SQLite these rebuild the tables: keep 0009's AUTOINCREMENT.)
    with op.batch_alter_table('submissions', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column('telegram', existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column('assigned_to_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('done_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('new_answer', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('before_edit', sa.Text(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_submissions_assigned_to_id_users'), 'users',
                                    ['assigned_to_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_submissions_cases', ['status', 'done_at', 'decided_at', 'id'], unique=False)
        batch_op.create_index('ix_submissions_assigned', ['assigned_to_id', 'done_at'], unique=False)
        batch_op.create_index('ix_submissions_new_answer', ['new_answer', 'status'], unique=False)
    with op.batch_alter_table('attachments', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_attachments_message_id_messages'), 'messages',
                                    ['message_id'], ['id'], ondelete='CASCADE')
        batch_op.create_index(batch_op.f('ix_attachments_message_id'), ['message_id'], unique=False)
    # An approved tip or offer was the end of the road; now it is a case, open until someone marks it done. The
    # one who approved it follows it up.
    bind.execute(sa.text(
        "UPDATE submissions SET assigned_to_id = decided_by_id WHERE status = 'approved' AND kind != 'ad'"
    ))
    if bind.dialect.name == "sqlite":  # the batch rebuild of submissions dropped the full-text triggers
        from app import legacy_search as search

        search.create(bind)


def downgrade():
    bind = op.get_bind()
    # A forgotten username cannot come back: such a case cannot return to a schema where the column is required.
    bind.execute(sa.text("DELETE FROM submissions WHERE telegram IS NULL"))
    with op.batch_alter_table('attachments', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_index(batch_op.f('ix_attachments_message_id'))
        batch_op.drop_constraint(batch_op.f('fk_attachments_message_id_messages'), type_='foreignkey')
        batch_op.drop_column('message_id')
    with op.batch_alter_table('submissions', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_index('ix_submissions_new_answer')
        batch_op.drop_index('ix_submissions_assigned')
        batch_op.drop_index('ix_submissions_cases')
        batch_op.drop_constraint(batch_op.f('fk_submissions_assigned_to_id_users'), type_='foreignkey')
        batch_op.drop_column('before_edit')
        batch_op.drop_column('new_answer')
        batch_op.drop_column('done_at')
        batch_op.drop_column('assigned_to_id')
        batch_op.alter_column('telegram', existing_type=sa.String(length=32), nullable=False)
    op.drop_index(op.f('ix_notes_submission_id'), table_name='notes')
    op.drop_table('notes')
    op.drop_index(op.f('ix_messages_submission_id'), table_name='messages')
    op.drop_table('messages')
    if bind.dialect.name == "sqlite":
        from app import legacy_search as search

        search.create(bind)
