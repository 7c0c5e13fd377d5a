"""chat_replies without answers: the dialogue engine answers a retried message from its own record

The kept answers (encrypted, possibly repeating a person's values) go with the column; a retry of one of
them is answered by the engine, which holds the same message by its id.

Revision ID: 0014
Revises: 0013
"""

from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('chat_replies') as batch:
        batch.drop_column('reply')


def downgrade() -> None:
    with op.batch_alter_table('chat_replies') as batch:
        batch.add_column(sa.Column('reply', sa.Text(), nullable=True))
