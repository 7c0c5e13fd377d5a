"""vault for values held back from the dialogue engine; handoff messages and the outbox encrypted; plain values purged

Revision ID: 0007
Revises: 0006
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

ENCRYPTED_TEXT_COLUMNS = (('handoff_messages', 'text'), ('outbox_messages', 'text'))
FERNET_PREFIX = 'gAAAAA'  # every Fernet token starts so (version byte and timestamp)


def upgrade() -> None:
    op.create_table(
        'vault_entries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('conversation_id', sa.String(length=128), nullable=False),
        sa.Column('reference', sa.String(length=24), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('value', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('conversation_id', 'reference'),
    )
    op.create_index('ix_vault_entries_conversation_id', 'vault_entries', ['conversation_id'])
    op.create_index('ix_vault_entries_created_at', 'vault_entries', ['created_at'])

    connection = op.get_bind()
    # Imported here: the key is needed only when there are rows to encrypt or conversations to clean.
    from bot.services.people import cipher
    from bot.services.redaction import purge_plain_values

    for table, column in ENCRYPTED_TEXT_COLUMNS:
        rows = connection.execute(sa.text(f'SELECT id, {column} FROM {table}')).all()
        plain = [(row_id, value) for row_id, value in rows if value and not value.startswith(FERNET_PREFIX)]
        if plain:
            c = cipher()
            for row_id, value in plain:
                connection.execute(sa.text(f'UPDATE {table} SET {column} = :v WHERE id = :id'),
                                   {'v': c.encrypt(value), 'id': row_id})
    purge_plain_values(connection)


def downgrade() -> None:
    # The encrypted messages stay encrypted: writing them back in clear would undo what this protects.
    op.drop_index('ix_vault_entries_created_at', table_name='vault_entries')
    op.drop_index('ix_vault_entries_conversation_id', table_name='vault_entries')
    op.drop_table('vault_entries')
