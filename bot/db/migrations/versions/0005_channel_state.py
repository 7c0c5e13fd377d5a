"""channel state shared by gateway replicas: seen messages, offered choices, platform credentials, push cursors

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'seen_messages',
        sa.Column('channel', sa.String(32), primary_key=True),
        sa.Column('key', sa.String(128), primary_key=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_seen_messages_created_at', 'seen_messages', ['created_at'])
    op.create_table(
        'offered_choices',
        sa.Column('conversation_id', sa.String(128), primary_key=True),
        sa.Column('payloads', sa.JSON(), nullable=False),
        sa.Column('offered_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'channel_credentials',
        sa.Column('name', sa.String(64), primary_key=True),
        sa.Column('value_encrypted', sa.Text(), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        'delivery_cursors',
        sa.Column('conversation_id', sa.String(128), primary_key=True),
        sa.Column('delivered_id', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('lease_owner', sa.String(64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('failures', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('not_before', sa.DateTime(timezone=True), nullable=True),
    )
    # Before this, delivery cursors lived in memory and began at the newest message on every start: what was
    # pushed before the upgrade counts as delivered, so nobody gets old messages again.
    op.execute("INSERT INTO delivery_cursors (conversation_id, delivered_id, failures) "
               "SELECT conversation_id, MAX(id), 0 FROM outbox_messages GROUP BY conversation_id")


def downgrade() -> None:
    op.drop_table('delivery_cursors')
    op.drop_table('channel_credentials')
    op.drop_table('offered_choices')
    op.drop_index('ix_seen_messages_created_at', 'seen_messages')
    op.drop_table('seen_messages')
