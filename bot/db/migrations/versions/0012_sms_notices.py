"""Text-message notifications for residents without a push channel, and the numbers that opted out

Revision ID: 0012
Revises: 0011
"""

from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'sms_notices',
        sa.Column('id', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('event', sa.String(160), nullable=False, unique=True),
        sa.Column('conversation_id', sa.String(128), nullable=False),
        sa.Column('kind', sa.String(16), nullable=False),
        sa.Column('reference', sa.String(32), nullable=True),
        sa.Column('phone_encrypted', sa.Text(), nullable=False),
        sa.Column('phone_fingerprint', sa.String(128), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('last_error', sa.String(300), nullable=True),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('outbox_id', sa.Integer(), nullable=True),
        sa.Column('lease_owner', sa.String(64), nullable=True),
        sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_sms_notices_conversation_id', 'sms_notices', ['conversation_id'])
    op.create_index('ix_sms_notices_phone_fingerprint', 'sms_notices', ['phone_fingerprint'])
    op.create_index('ix_sms_notices_status', 'sms_notices', ['status'])
    op.create_index('ix_sms_notices_next_attempt_at', 'sms_notices', ['next_attempt_at'])
    op.create_table(
        'sms_opt_outs',
        sa.Column('phone_fingerprint', sa.String(128), primary_key=True),
        sa.Column('phone_encrypted', sa.Text(), nullable=False),
        sa.Column('word', sa.String(16), nullable=False),
        sa.Column('opted_out_at', sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table('sms_opt_outs')
    for index in ('next_attempt_at', 'status', 'phone_fingerprint', 'conversation_id'):
        op.drop_index(f'ix_sms_notices_{index}', 'sms_notices')
    op.drop_table('sms_notices')
