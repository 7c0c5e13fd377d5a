"""Staff accounts belong to a service centre: a staff member sees the appointments of that centre only

Revision ID: 0011
Revises: 0010
"""

from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('staff_accounts') as batch:
        batch.add_column(sa.Column('centre_id', sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('staff_accounts') as batch:
        batch.drop_column('centre_id')
