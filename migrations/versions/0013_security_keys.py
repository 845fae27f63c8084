"""passkeys and security keys (WebAuthn) for staff: keys, the challenge being answered, accounts that require a key

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 13:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.add_column(sa.Column('key_required', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('key_challenge', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('key_challenge_at', sa.DateTime(), nullable=True))
    op.create_table(
        'security_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('credential_id', sa.LargeBinary(length=1024), nullable=False),
        sa.Column('public_key', sa.LargeBinary(length=2048), nullable=False),
        sa.Column('sign_count', sa.Integer(), nullable=False),
        sa.Column('rp_id', sa.String(length=255), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_used_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_security_keys_user_id_users'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_security_keys')),
        sa.UniqueConstraint('credential_id', name=op.f('uq_security_keys_credential_id')),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('security_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_security_keys_user_id'), ['user_id'], unique=False)


def downgrade():
    with op.batch_alter_table('security_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_security_keys_user_id'))
    op.drop_table('security_keys')
    with op.batch_alter_table('users', table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column('key_challenge_at')
        batch_op.drop_column('key_challenge')
        batch_op.drop_column('key_required')
