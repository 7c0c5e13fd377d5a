"""identity_proofs, one_time_codes, guess_counters: what a conversation proved about who it is, and how often it failed

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('identity_proofs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('fingerprint', sa.String(length=128), nullable=False),
    sa.Column('method', sa.String(length=32), nullable=False),
    sa.Column('proven_by', sa.String(length=64), nullable=True),
    sa.Column('proven_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_identity_proofs_conversation_id', 'identity_proofs', ['conversation_id'], unique=False)
    op.create_table('one_time_codes',
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('phone_fingerprint', sa.String(length=128), nullable=False),
    sa.Column('code_hash', sa.String(length=128), nullable=False),
    sa.Column('purpose', sa.String(length=128), nullable=False),
    sa.Column('id_fingerprint', sa.String(length=128), nullable=True),
    sa.Column('tries_left', sa.Integer(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    op.create_table('guess_counters',
    sa.Column('key', sa.String(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('guess_counters')
    op.drop_table('one_time_codes')
    op.drop_index('ix_identity_proofs_conversation_id', table_name='identity_proofs')
    op.drop_table('identity_proofs')
