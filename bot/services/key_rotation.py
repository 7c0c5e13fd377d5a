"""`make rotate-keys`: every encrypted value moves to a new key while the former keys still decrypt.

With a key file, a new key is generated and written first in the file, the
former ones kept after it; running processes notice the file changed and
encrypt with the new key from then on, and anything they wrote meanwhile
under the old key stays readable. With FIELD_ENCRYPTION_KEY set inline, the
operator sets the new key there and the old one in FIELD_ENCRYPTION_OLD_KEYS
first; this then re-encrypts everything under the current key. Fingerprints
(the keyed lookups of ID numbers and phones) are recomputed with the new key.

Values written under the development placeholder that once was the default
key are moved too, so a database from before keys were required is not lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Table, Text, select, type_coerce, update

from bot.db.models import Base
from bot.db.session import get_engine
from bot.keys import configured_keys, read_key_file, write_key_file
from bot.privacy import FieldCipher, FieldDecryptError, field_cipher_key, generate_key
from bot.settings import Settings

log = logging.getLogger(__name__)

# The key every installation had unless it set one; it is in the public repository.
FORMER_DEFAULT_PASSPHRASE = "dev-field-key"
# Which encrypted column holds the value a fingerprint column is computed from.
FINGERPRINT_SOURCES = {"id_fingerprint": "id_number_encrypted", "phone_fingerprint": "phone_encrypted"}
BATCH_ROWS = 500


@dataclass
class RotationReport:
    """What a rotation did, per table: values re-encrypted, and values no configured key could read."""

    new_key_written: bool = False
    rotated: dict[str, int] = field(default_factory=dict)
    unreadable: dict[str, int] = field(default_factory=dict)


def encrypted_columns(table: Table) -> list[Column]:
    """The columns of a table that hold values encrypted with the field key."""
    return [c for c in table.columns if c.name.endswith("_encrypted") or getattr(c.type, "holds_encrypted", False)]


def _rotate_table(engine: Engine, table: Table, cipher: FieldCipher, report: RotationReport) -> None:
    columns = encrypted_columns(table)
    fingerprints = [c for c in table.columns if FINGERPRINT_SOURCES.get(c.name, "") in table.columns]
    if not columns:
        return
    key = list(table.primary_key.columns)
    last = None
    while True:
        with engine.begin() as connection:
            # Read and written as plain text: a column type that encrypts by itself must not do it twice.
            query = select(*key, *[type_coerce(c, Text).label(c.name) for c in columns]).order_by(*key).limit(BATCH_ROWS)
            if last is not None:
                query = query.where(key[0] > last)
            rows = connection.execute(query).mappings().all()
            for row in rows:
                changes: dict[str, str] = {}
                for column in columns:
                    token = row[column.name]
                    if not token:
                        continue
                    try:
                        changes[column.name] = cipher.rotate(token)
                    except FieldDecryptError:
                        report.unreadable[table.name] = report.unreadable.get(table.name, 0) + 1
                        continue
                    report.rotated[table.name] = report.rotated.get(table.name, 0) + 1
                for fingerprint in fingerprints:
                    source = FINGERPRINT_SOURCES[fingerprint.name]
                    if source in changes:
                        changes[fingerprint.name] = cipher.fingerprint(cipher.decrypt(changes[source]))
                if changes:
                    condition = [k == row[k.name] for k in key]
                    values = {name: type_coerce(value, Text) for name, value in changes.items()}
                    connection.execute(update(table).where(*condition).values(**values))
        if len(rows) < BATCH_ROWS:
            return
        last = rows[-1][key[0].name]


def rotate_keys(settings: Settings, engine: Engine | None = None, new_key: bool = True) -> RotationReport:
    """Moves every encrypted value (and fingerprint) to the current key, after writing a new one to the key file."""
    report = RotationReport()
    keys = configured_keys(settings)
    if new_key and settings.key_file is not None:
        in_file = read_key_file(settings.key_file)
        # Written before anything is re-encrypted: every value stays readable whenever this is interrupted.
        write_key_file(settings.key_file, [generate_key(), *in_file])
        keys = [*read_key_file(settings.key_file), *keys[len(in_file):]]
        report.new_key_written = True
    cipher = FieldCipher(field_cipher_key(keys[0]), old_keys=[field_cipher_key(k) for k in
                                                               [*keys[1:], FORMER_DEFAULT_PASSPHRASE]])
    engine = engine or get_engine(settings.database_url)
    for table in Base.metadata.sorted_tables:
        _rotate_table(engine, table, cipher, report)
    log.info("key rotation: %s values re-encrypted, %s unreadable", sum(report.rotated.values()),
             sum(report.unreadable.values()))
    return report
