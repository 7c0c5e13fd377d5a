"""chat_replies and turn keys: a client's retried message gets the answer it was given, and runs nothing twice

Revision ID: 0013
Revises: 0012
"""

from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'chat_replies',
        sa.Column('conversation_id', sa.String(128), primary_key=True),
        sa.Column('message_id', sa.String(64), primary_key=True),
        sa.Column('text_digest', sa.String(64), nullable=False),
        sa.Column('reply', sa.Text(), nullable=True),
        sa.Column('conversation_token', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_chat_replies_created_at', 'chat_replies', ['created_at'])
    for table in ('appointments', 'applications'):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('turn_key', sa.String(64), nullable=True))
            batch.create_unique_constraint(f'uq_{table}_turn', ['conversation_id', 'turn_key'])


def downgrade() -> None:
    for table in ('applications', 'appointments'):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f'uq_{table}_turn', type_='unique')
            batch.drop_column('turn_key')
    op.drop_index('ix_chat_replies_created_at', 'chat_replies')
    op.drop_table('chat_replies')
