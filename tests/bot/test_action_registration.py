"""The action server serves every custom action the domain names, wherever in bot/actions its class lives."""

from __future__ import annotations

import yaml

from bot.actions.vaulted import VaultedExecutor
from bot.settings import get_settings


def domain_actions() -> set[str]:
    """The custom actions (and form validations) listed under `actions` in the domain files."""
    names: set[str] = set()
    for path in sorted(get_settings().domain_dir.glob("*.yml")):
        names |= set((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("actions") or [])
    return names


def test_the_action_server_registers_every_action_of_the_domain_from_the_actions_package():
    executor = VaultedExecutor()
    executor.register_package("bot.actions")  # as bot/actions/server.py does
    wanted = domain_actions()
    assert {"action_application_status", "action_not_understood", "action_answer_offer"} <= wanted
    assert sorted(wanted - set(executor.actions)) == []
