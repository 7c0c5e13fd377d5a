"""Small additions a supervisor makes to the knowledge base from the console: a new alias or an FAQ answer.

The service's YAML file is edited as text (one list item inserted), so its
comments and layout stay as the authors wrote them; the result is checked to
parse to exactly the old content plus the addition, then swapped in atomically.
The live catalogue reloads on the file's change (aliases take effect at once),
and the next training reads the aliases into its lookup tables.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from bot.errors import Conflict, InvalidRequest, NotFound
from bot.knowledge import learned
from bot.knowledge.catalogue import SERVICES_DIR_NAME, Catalogue
from bot.privacy import redact_text

MIN_ALIAS_LENGTH = 2
MAX_ALIAS_LENGTH = 40
MAX_FAQ_QUESTION_LENGTH = 200
MAX_FAQ_ANSWER_LENGTH = 1000
_lock = threading.Lock()


def add_alias(catalogue: Catalogue, service_id: str, alias: str) -> Path:
    """Adds `alias` to the service's aliases (409 when any service already answers to it); the file changed."""
    alias = check_alias(alias)
    path = _service_path(catalogue, service_id)
    taken = {name for s in catalogue.services.values() for name in (s.name, s.short_name, *s.aliases)}
    if alias in taken:
        raise Conflict(f"a service already answers to {alias!r}", code="alias_taken")
    with _file_lock(path):
        original = path.read_text(encoding="utf-8")
        updated = _append_to_list(original, "aliases", [f"- {_scalar(alias)}"])
        _check_only_added(original, updated, "aliases", alias)
        _replace(path, updated)
    return path


def add_faq(catalogue: Catalogue, service_id: str, question: str, answer: str) -> Path:
    """Adds a question and its answer to the service's FAQ; the file changed."""
    question, answer = _clean(question, MAX_FAQ_QUESTION_LENGTH, "question"), _clean(answer, MAX_FAQ_ANSWER_LENGTH, "answer")
    path = _service_path(catalogue, service_id)
    with _file_lock(path):
        original = path.read_text(encoding="utf-8")
        entry = [f"- question: {_scalar(question)}", f"  answer: {_scalar(answer)}"]
        updated = _append_to_list(original, "faq", entry)
        _check_only_added(original, updated, "faq", {"question": question, "answer": answer})
        _replace(path, updated)
    return path


def add_example(catalogue: Catalogue, intent: str, example: str, domain_dir: Path) -> Path:
    """Adds a way of asking for `intent` to knowledge_base/learned_examples.yml, for the next training; the file."""
    example = check_alias(example)
    if intent not in known_intents(domain_dir):
        raise NotFound(f"no intent {intent!r} in the dialogue domain", code="intent_not_found")
    path = Path(catalogue.root) / learned.LEARNED_FILE
    with _file_lock(path):
        examples = learned.read_examples(catalogue.root)
        if (intent, example) in examples:
            raise Conflict("this way of asking is already there", code="example_taken")
        _replace(path, learned.render([*examples, (intent, example)]))
    return path


def known_intents(domain_dir: Path) -> set[str]:
    """The intents the dialogue domain declares (dialogues/domain/*.yml)."""
    found: set[str] = set()
    for path in sorted(Path(domain_dir).glob("*.yml")):
        for intent in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("intents") or []:
            found.add(next(iter(intent)) if isinstance(intent, dict) else str(intent))
    return found


def check_alias(alias: str) -> str:
    """The alias trimmed; 422 when too short or long, or when it holds a masked or personal number."""
    alias = " ".join(alias.split())
    if not MIN_ALIAS_LENGTH <= len(alias) <= MAX_ALIAS_LENGTH:
        raise InvalidRequest(f"an alias is {MIN_ALIAS_LENGTH} to {MAX_ALIAS_LENGTH} characters", code="invalid_alias")
    if "*" in alias or redact_text(alias) != alias:
        raise InvalidRequest("an alias must not contain a personal or masked number", code="invalid_alias")
    return alias


def _clean(value: str, limit: int, name: str) -> str:
    value = value.strip()
    if not value or len(value) > limit:
        raise InvalidRequest(f"the {name} is 1 to {limit} characters", code=f"invalid_{name}")
    if redact_text(value) != value:
        raise InvalidRequest(f"the {name} must not contain a personal number", code=f"invalid_{name}")
    return value


def _service_path(catalogue: Catalogue, service_id: str) -> Path:
    if service_id not in catalogue.services:
        raise NotFound(f"no service {service_id!r}", code="service_not_found")
    return Path(catalogue.root) / SERVICES_DIR_NAME / f"{service_id}.yml"


def _scalar(value: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar, whatever it holds (colons, hashes, quotes).
    return json.dumps(value, ensure_ascii=False)


def _append_to_list(source: str, key: str, item_lines: list[str]) -> str:
    """The source with the item appended to the top-level list `key` (the key is added at the end if missing)."""
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() in (f"{key}:", f"{key}: []")), None)
    if start is None:
        tail = "" if source.endswith("\n") or not source else "\n"
        return source + tail + f"{key}:\n" + "".join(f"  {line}\n" for line in item_lines)
    if lines[start].rstrip() == f"{key}: []":
        lines[start] = f"{key}:\n"
    # The list runs while lines are indented, list items, or blank.
    end = start + 1
    indent = None
    while end < len(lines):
        line = lines[end]
        if line.strip() and not (line.startswith((" ", "\t", "-"))):
            break
        if indent is None and line.lstrip().startswith("- "):
            indent = line[: len(line) - len(line.lstrip())]
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep blank lines after the list where they were
    indent = "  " if indent is None else indent
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    return "".join(lines[:end] + [f"{indent}{line}\n" for line in item_lines] + lines[end:])


def _check_only_added(original: str, updated: str, key: str, item: Any) -> None:
    before, after = yaml.safe_load(original) or {}, yaml.safe_load(updated) or {}
    expected = {**before, key: [*(before.get(key) or []), item]}
    if after != expected:
        raise InvalidRequest(f"the file's {key} list is laid out in a way this edit cannot follow; edit it by hand",
                             code="knowledge_base_layout")


def _replace(path: Path, content: str) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """One editor at a time, across threads and across gateway processes on this machine."""
    # Outside the knowledge base, so the lock never shows up among its files.
    digest = hashlib.sha256(str(path.parent.resolve()).encode()).hexdigest()[:16]
    with _lock, open(Path(tempfile.gettempdir()) / f"bianmin-kb-{digest}.lock", "a", encoding="utf-8") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
