"""Telegram state shared by gateway replicas: each person's /voice choice and the keys of long button payloads

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'channel_preferences',
        sa.Column('conversation_id', sa.String(128), primary_key=True),
        sa.Column('voice_answers', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'callback_keys',
        sa.Column('key', sa.String(64), primary_key=True),
        sa.Column('payload', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_callback_keys_created_at', 'callback_keys', ['created_at'])


def downgrade() -> None:
    op.drop_index('ix_callback_keys_created_at', 'callback_keys')
    op.drop_table('callback_keys')
    op.drop_table('channel_preferences')
