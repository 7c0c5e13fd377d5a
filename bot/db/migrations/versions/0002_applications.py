"""applications, their status history, and people profiles

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('applications',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('reference', sa.String(length=16), nullable=True),
    sa.Column('service_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=False),
    sa.Column('full_name_encrypted', sa.Text(), nullable=True),
    sa.Column('id_number_encrypted', sa.Text(), nullable=True),
    sa.Column('phone_encrypted', sa.Text(), nullable=True),
    sa.Column('address_encrypted', sa.Text(), nullable=True),
    sa.Column('id_fingerprint', sa.String(length=128), nullable=True),
    sa.Column('phone_fingerprint', sa.String(length=128), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('requested_slot', sa.String(length=64), nullable=True),
    sa.Column('status_note', sa.Text(), nullable=True),
    sa.Column('conversation_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('redacted_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('reference')
    )
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_applications_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_id_fingerprint'), ['id_fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_phone_fingerprint'), ['phone_fingerprint'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_service_id'), ['service_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_applications_status'), ['status'], unique=False)

    op.create_table('people',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id_fingerprint', sa.String(length=128), nullable=False),
    sa.Column('full_name_encrypted', sa.Text(), nullable=True),
    sa.Column('id_number_encrypted', sa.Text(), nullable=True),
    sa.Column('phone_encrypted', sa.Text(), nullable=True),
    sa.Column('address_encrypted', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('id_fingerprint')
    )
    op.create_table('application_status_changes',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('changed_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('application_status_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_application_status_changes_application_id'), ['application_id'], unique=False)

    op.create_table('person_conversations',
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('conversation_id')
    )
    with op.batch_alter_table('person_conversations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_conversations_person_id'), ['person_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('person_conversations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_conversations_person_id'))

    op.drop_table('person_conversations')
    with op.batch_alter_table('application_status_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_application_status_changes_application_id'))

    op.drop_table('application_status_changes')
    op.drop_table('people')
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_applications_status'))
        batch_op.drop_index(batch_op.f('ix_applications_service_id'))
        batch_op.drop_index(batch_op.f('ix_applications_phone_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_applications_id_fingerprint'))
        batch_op.drop_index(batch_op.f('ix_applications_conversation_id'))

    op.drop_table('applications')
