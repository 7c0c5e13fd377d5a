"""analytics: period indexes, clarifying questions, reviews of unanswered questions, daily roll-ups of settled days

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

INDEXES = (
    ('ix_conversations_created_channel', 'conversations', ['created_at', 'channel']),
    ('ix_handoffs_created_at', 'handoffs', ['created_at']),
    ('ix_ratings_created_at', 'ratings', ['created_at']),
    ('ix_applications_created_at', 'applications', ['created_at']),
    ('ix_appointments_slot_start', 'appointments', ['slot_start']),
    ('ix_unanswered_questions_created_at', 'unanswered_questions', ['created_at']),
    ('ix_staff_tasks_created_at', 'staff_tasks', ['created_at']),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_table('clarifying_questions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_clarifying_questions_created_at', 'clarifying_questions', ['created_at'])
    op.create_table('unanswered_reviews',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('text', sa.String(length=500), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('service_id', sa.String(length=64), nullable=True),
    sa.Column('staff_username', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('text')
    )
    op.create_index('ix_unanswered_reviews_created_at', 'unanswered_reviews', ['created_at'])
    op.create_table('analytics_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('conversations', sa.Integer(), nullable=False),
    sa.Column('handed_off', sa.Integer(), nullable=False),
    sa.Column('messages', sa.Integer(), nullable=False),
    sa.Column('below_threshold', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'channel')
    )
    op.create_table('analytics_handoff_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('service', sa.String(length=64), nullable=False),
    sa.Column('handoffs', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('abandoned', sa.Integer(), nullable=False),
    sa.Column('served', sa.Integer(), nullable=False),
    sa.Column('resolved', sa.Integer(), nullable=False),
    sa.Column('waits', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'channel', 'service')
    )


def downgrade() -> None:
    op.drop_table('analytics_handoff_days')
    op.drop_table('analytics_days')
    op.drop_index('ix_unanswered_reviews_created_at', table_name='unanswered_reviews')
    op.drop_table('unanswered_reviews')
    op.drop_index('ix_clarifying_questions_created_at', table_name='clarifying_questions')
    op.drop_table('clarifying_questions')
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
