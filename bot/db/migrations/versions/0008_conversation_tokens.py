"""conversations: the hash of the web client's conversation token (the token itself is never stored)

Revision ID: 0008
Revises: 0007
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


# A plain ADD COLUMN, not a batch copy (see 0004: copying the table would delete every outbox message).
# Conversations from before have no token: web clients start a new one, Telegram and phone need none.
def upgrade() -> None:
    op.add_column('conversations', sa.Column('token_hash', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('conversations', 'token_hash')
