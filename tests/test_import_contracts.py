"""The import contracts of pyproject.toml hold today and would catch a core module importing a channel."""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import bot
import bot.gateway as bot_gateway
from bot.settings import REPO_ROOT

PACKAGES = ("bot", "channels", "kiosk", "speech")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def contracts() -> list[dict]:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["importlinter"]["contracts"]


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """lint-imports over the tree at `root`, which it imports from (it puts the working directory first)."""
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=root, capture_output=True,
                          text=True, timeout=120)


def _all_but_python(folder: str, names: list[str]) -> list[str]:
    """What the copy leaves out: every file but Python source, and the folders of caches and npm packages."""
    return [name for name in names if name in ("__pycache__", "node_modules")
            or not (name.endswith(".py") or Path(folder, name).is_dir())]


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The Python files of the packages and pyproject.toml, copied so that a test may break them (the packages'
    data, such as the handwriting strokes' thousands of files, is what made copying take seconds)."""
    for package in PACKAGES:
        shutil.copytree(REPO_ROOT / package, tmp_path / package, ignore=_all_but_python)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_layering_holds_and_breaks_when_a_core_module_imports_a_channel(tree_copy: Path):
    kept = lint_imports(tree_copy)
    assert kept.returncode == 0, kept.stdout + kept.stderr

    service = tree_copy / "bot" / "services" / "answers.py"
    service.write_text(service.read_text("utf-8") + "\nimport channels.telegram.handlers\n", "utf-8")
    broken = lint_imports(tree_copy)
    assert broken.returncode != 0
    assert "The core imports no channel" in broken.stdout and "BROKEN" in broken.stdout
    assert "bot.services.answers -> channels.telegram.handlers" in broken.stdout


def test_a_channel_importing_another_channel_breaks_the_build(tree_copy: Path):
    kiosk_module = tree_copy / "kiosk" / "routes.py"
    kiosk_module.write_text(kiosk_module.read_text("utf-8") + "\nimport channels.telegram.handlers\n", "utf-8")
    broken = lint_imports(tree_copy)
    assert broken.returncode != 0
    assert "Channels never import each other" in broken.stdout


def test_a_channel_reaching_into_the_gateway_past_deps_and_errors_breaks_the_build(tree_copy: Path):
    webhook = tree_copy / "channels" / "telegram" / "webhook.py"
    webhook.write_text(webhook.read_text("utf-8") + "\nimport bot.gateway.routes.staff\n", "utf-8")
    broken = lint_imports(tree_copy)
    assert broken.returncode != 0
    assert "Channels reach the gateway only through its dependencies and its error answer BROKEN" in broken.stdout
    assert "channels.telegram.webhook -> bot.gateway.routes.staff" in broken.stdout


def test_channels_may_import_of_the_gateway_only_deps_and_errors():
    gateway_contract = next(c for c in contracts() if c.get("source_modules") == ["channels", "kiosk"])
    gateway_modules = {f"bot.gateway.{m.name}" for m in pkgutil.iter_modules(bot_gateway.__path__)}
    assert set(gateway_contract["forbidden_modules"]) == gateway_modules - {"bot.gateway.deps", "bot.gateway.errors"}, \
        "a new module of bot.gateway must be forbidden to the channels too"


def test_an_action_importing_back_one_that_imports_it_breaks_the_build_even_from_inside_a_function(tree_copy: Path):
    # ActionNotUnderstood runs the status action; the status action reaching back for it, even in a function
    # body, makes the two modules a cycle again.
    status = tree_copy / "bot" / "actions" / "status.py"
    status.write_text(status.read_text("utf-8") + "\n\ndef _not_understood() -> object:\n"
                      "    from bot.actions.questions import ActionNotUnderstood\n\n"
                      "    return ActionNotUnderstood\n", "utf-8")
    broken = lint_imports(tree_copy)
    assert broken.returncode != 0
    assert "The custom actions import each other one way only BROKEN" in broken.stdout
    assert "No cycles are allowed in bot.actions" in broken.stdout


def test_speech_may_import_the_error_tree_and_no_other_module_of_bot():
    speech_contract = next(c for c in contracts() if c.get("source_modules") == ["speech"])
    bot_modules = {f"bot.{m.name}" for m in pkgutil.iter_modules(bot.__path__)}
    forbidden = {m for m in speech_contract["forbidden_modules"] if m.startswith("bot.")}
    assert forbidden == bot_modules - {"bot.errors"}, "a new module of bot must be forbidden to speech too"
