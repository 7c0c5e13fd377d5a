"""The keys that encrypt residents' personal fields: read from the settings or a key file, never a default.

A key file holds one key per line, the current one first and former ones
after it, so values written before a rotation still decrypt. It is created
with mode 0600 and replaced atomically, and a process notices a replaced
file by its modification time, so a rotation reaches running processes
without a restart.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bot.errors import ConfigurationError
from bot.privacy import FieldCipher, field_cipher_key, generate_key
from bot.settings import Settings

KEY_FILE_MODE = 0o600


def read_key_file(path: Path) -> list[str]:
    """The keys in a key file, current first; blank lines and # comments are skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise ConfigurationError(f"the field encryption key file {path} cannot be read: {err.strerror}") from err
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ConfigurationError(f"the field encryption key file {path} holds no key")
    return keys


def write_key_file(path: Path, keys: list[str]) -> None:
    """Writes the keys (current first) readable by the owner only, replacing any old file in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, KEY_FILE_MODE)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write("# current key first, then former keys that still decrypt older values\n")
        file.write("\n".join(keys) + "\n")
        file.flush()
        os.fsync(file.fileno())
    partial.replace(path)


def ensure_key_file(settings: Settings) -> Path | None:
    """Creates a random key file on a developer's first start when no key is configured; returns it if created."""
    path = settings.key_file
    if path is None or path.exists():
        return None
    if settings.environment == "production":
        raise ConfigurationError(f"the field encryption key file {path} does not exist")
    write_key_file(path, [generate_key()])
    return path


def _old_keys(settings: Settings) -> list[str]:
    secret = settings.field_encryption_old_keys
    return [k.strip() for k in (secret.get_secret_value().split(",") if secret else []) if k.strip()]


def _missing_key(settings: Settings) -> ConfigurationError:
    return ConfigurationError(
        "no field encryption key: set FIELD_ENCRYPTION_KEY or FIELD_ENCRYPTION_KEY_FILE, "
        f"or start once with `make run`, which creates {settings.key_file}")


def configured_keys(settings: Settings) -> list[str]:
    """The keys from the settings, current first; ConfigurationError saying how to get one when there is none."""
    if settings.field_encryption_key is not None:
        return [settings.field_encryption_key.get_secret_value(), *_old_keys(settings)]
    path = settings.key_file
    if path is None or not path.exists():
        raise _missing_key(settings)
    return [*read_key_file(path), *_old_keys(settings)]


@functools.lru_cache(maxsize=8)
def _cipher(keys: tuple[str, ...]) -> FieldCipher:
    return FieldCipher(field_cipher_key(keys[0]), old_keys=[field_cipher_key(k) for k in keys[1:]])


@functools.lru_cache(maxsize=8)
def _keys_of_file(path: Path, _modified_ns: int, _size: int) -> tuple[str, ...]:
    return tuple(read_key_file(path))


def field_cipher(settings: Settings) -> FieldCipher:
    """The cipher for personal fields; a key file is read again only when it changed (a rotation)."""
    path = settings.key_file
    if path is None:
        return _cipher(tuple(configured_keys(settings)))
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise _missing_key(settings) from None
    return _cipher((*_keys_of_file(path, stat.st_mtime_ns, stat.st_size), *_old_keys(settings)))
