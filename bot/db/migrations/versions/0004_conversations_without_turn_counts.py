"""conversations: no per-turn counter or activity time (the gateway writes a conversation only on its first message)

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# Plain ALTER TABLE … DROP COLUMN (SQLite 3.35 and later), not a batch copy: copying the table would drop
# the old one, and with foreign keys on that deletes every outbox message of every conversation.
def upgrade() -> None:
    op.drop_column('conversations', 'turns')
    op.drop_column('conversations', 'last_active_at')


def downgrade() -> None:
    op.add_column('conversations', sa.Column('last_active_at', sa.DateTime(timezone=True), nullable=False,
                                             server_default=sa.func.current_timestamp()))
    op.add_column('conversations', sa.Column('turns', sa.Integer(), nullable=False, server_default='0'))
