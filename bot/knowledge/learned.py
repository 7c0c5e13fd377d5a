"""Ways of asking that supervisors attached to an intent from the unanswered questions (knowledge_base/learned_examples.yml).

The file is written by the console's review (bot/services/knowledge_edits.py) and read by the
next training (bot/engine/build.py), which turns it into training examples of those intents.
"""

from __future__ import annotations

from pathlib import Path

import yaml

LEARNED_FILE = "learned_examples.yml"
HEADER = ("# Ways of asking that supervisors attached to an intent from the unanswered questions (staff console,\n"
          "# 数据分析). The next training reads them as examples of their intent.\n")


def read_examples(knowledge_base_dir: Path) -> list[tuple[str, str]]:
    """(intent, text) of every learned example, in the order added; none when the file is absent."""
    path = Path(knowledge_base_dir) / LEARNED_FILE
    if not path.exists():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [(str(item["intent"]), str(item["text"])) for item in data.get("examples") or []
            if isinstance(item, dict) and item.get("intent") and item.get("text")]


def render(examples: list[tuple[str, str]]) -> str:
    """The file's content for these examples."""
    body = yaml.safe_dump({"examples": [{"intent": i, "text": t} for i, t in examples]}, allow_unicode=True,
                          sort_keys=False, default_flow_style=False)
    return HEADER + body
