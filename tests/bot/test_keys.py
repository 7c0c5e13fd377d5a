"""No key is built in: a developer's first start creates one, production must be given one, and keys rotate."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select, text

from bot import keys
from bot.cli import main as cli_main
from bot.db.models import Person
from bot.db.migrate import upgrade
from bot.db.session import get_engine, make_engine, unit_of_work
from bot.errors import ConfigurationError
from bot.privacy import FieldCipher, field_cipher_key, generate_key
from bot.services import people
from bot.services.key_rotation import FORMER_DEFAULT_PASSPHRASE, rotate_keys
from bot.services.vault import reveal_for, shield_message
from bot.settings import get_settings, load_settings
from tests.conftest import _use_database

from .test_applications_redaction import new_person


@pytest.fixture
def key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The settings read their key from a file in tmp_path, for a database of their own."""
    path = tmp_path / "field.key"
    previous = os.environ["DATABASE_URL"]
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY_FILE", str(path))
    keys.write_key_file(path, [generate_key()])
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    _use_database(url)
    yield path
    get_engine().dispose()
    _use_database(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_production_without_a_key_refuses_to_start_and_says_what_to_set(monkeypatch):
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY", raising=False)
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environment="production", rasa_token="t" * 32)
    assert "FIELD_ENCRYPTION_KEY" in caught.value.message and "FIELD_ENCRYPTION_KEY_FILE" in caught.value.message


@pytest.mark.parametrize("environment", ["development", "production"])
def test_the_published_placeholder_key_is_refused_everywhere(environment):
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environment=environment, rasa_token="t" * 32, field_encryption_key="dev-field-key")
    assert "placeholder" in caught.value.message


def test_production_accepts_a_key_file(key_file):
    settings = load_settings(environment="production", rasa_token="t" * 32)
    assert settings.key_file == key_file
    assert keys.configured_keys(settings) == keys.read_key_file(key_file)


def test_without_any_key_the_cipher_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY", raising=False)
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY_FILE", raising=False)
    settings = load_settings()
    monkeypatch.setattr("bot.settings.DEVELOPMENT_KEY_FILE", tmp_path / "absent.key")
    with pytest.raises(ConfigurationError) as caught:
        keys.field_cipher(settings)
    assert "make run" in caught.value.message and "FIELD_ENCRYPTION_KEY" in caught.value.message


def test_a_first_start_creates_a_random_private_key_file_once(tmp_path, monkeypatch):
    monkeypatch.delenv("FIELD_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("FIELD_ENCRYPTION_KEY_FILE", str(tmp_path / "placeholder"))
    (tmp_path / "placeholder").write_text("x")  # the validator wants an existing file; point elsewhere below
    settings = load_settings()
    monkeypatch.setattr(type(settings), "key_file", property(lambda self: tmp_path / "var" / "field.key"))
    created = keys.ensure_key_file(settings)
    assert created == tmp_path / "var" / "field.key" and mode(created) == 0o600
    first = keys.read_key_file(created)
    assert len(first) == 1 and FieldCipher(first[0])
    assert keys.ensure_key_file(settings) is None and keys.read_key_file(created) == first
    other = tmp_path / "other"
    monkeypatch.setattr(type(settings), "key_file", property(lambda self: other / "field.key"))
    assert keys.read_key_file(keys.ensure_key_file(settings)) != first  # random, not derived from anything


def test_the_database_file_and_its_log_are_created_readable_by_the_owner_only(tmp_path):
    path = tmp_path / "private.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (x TEXT)")
        connection.exec_driver_sql("INSERT INTO t VALUES ('a')")
        assert mode(Path(f"{path}-wal")) == 0o600
    engine.dispose()
    assert mode(path) == 0o600


def test_an_existing_world_readable_database_is_closed_to_others(tmp_path):
    path = tmp_path / "old.db"
    path.touch()
    os.chmod(path, 0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


def _person_with(cipher: FieldCipher, values: dict[str, str]) -> None:
    with unit_of_work() as session:
        session.add(Person(id_fingerprint=cipher.fingerprint(values["id_number"]),
                           **{f"{name}_encrypted": cipher.encrypt(values[name]) for name in people.FIELDS}))


def _stored(values: dict[str, str]) -> Person:
    with unit_of_work() as session:
        return session.scalars(select(Person).where(Person.full_name_encrypted.is_not(None))
                               .order_by(Person.id.desc())).first()


def test_rotation_moves_every_value_and_lookup_to_a_new_key_while_the_old_key_still_reads(key_file):
    old_key = keys.read_key_file(key_file)[0]
    person = new_person()
    people.remember(f"c-{uuid.uuid4().hex}", person)
    talk = f"c-{uuid.uuid4().hex}"
    held = shield_message(talk, f"电话{person['phone']}", None)

    report = rotate_keys(get_settings())

    new_keys = keys.read_key_file(key_file)
    assert report.new_key_written and new_keys[1:] == [old_key] and new_keys[0] != old_key
    assert mode(key_file) == 0o600 and not report.unreadable and report.rotated["people"] >= 4
    row = _stored(person)
    only_new = FieldCipher(new_keys[0])
    assert only_new.decrypt(row.id_number_encrypted) == person["id_number"]
    assert row.id_fingerprint == only_new.fingerprint(person["id_number"])
    # The running process notices the new file: a lookup by ID number and phone still finds the person.
    assert people.identify(f"c-{uuid.uuid4().hex}", person["id_number"], person["phone"]).address == person["address"]
    with get_engine().connect() as connection:
        token = connection.execute(text("SELECT value FROM vault_entries WHERE conversation_id = :c"),
                                   {"c": talk}).scalar_one()
    assert only_new.decrypt(token) == person["phone"] and report.rotated["vault_entries"] == 1
    assert reveal_for(talk)(held) == f"电话{person['phone']}"
    # A value written under the old key a moment before the rotation still reads.
    assert people.cipher().decrypt(FieldCipher(old_key).encrypt("x")) == "x"


def test_values_under_the_former_default_key_are_moved_and_then_no_longer_need_it(key_file):
    person = new_person()
    _person_with(FieldCipher(field_cipher_key(FORMER_DEFAULT_PASSPHRASE)), person)

    rotate_keys(get_settings(), new_key=False)

    row = _stored(person)
    assert people.cipher().decrypt(row.phone_encrypted) == person["phone"]
    assert FieldCipher(keys.read_key_file(key_file)[0]).decrypt(row.full_name_encrypted) == person["full_name"]


def test_make_rotate_keys_runs_from_the_command_line(key_file, capsys):
    people.remember(f"c-{uuid.uuid4().hex}", new_person())
    before = keys.read_key_file(key_file)
    assert cli_main(["rotate-keys"]) == 0
    assert keys.read_key_file(key_file)[1:] == before
    assert "re-encrypted" in capsys.readouterr().out
