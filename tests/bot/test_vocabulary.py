"""Whatever the engine's finer intents are, the public API reports only vocabulary names."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.settings import REPO_ROOT
from bot.understanding.vocabulary import VOCABULARY_INTENTS, to_vocabulary

SHARED_VOCABULARY = REPO_ROOT.parent / "shared" / "contract" / "vocabulary.yml"


def domain_intents() -> set[str]:
    intents: set[str] = set()
    for path in (REPO_ROOT / "dialogues" / "domain").glob("*.yml"):
        intents |= set((yaml.safe_load(path.read_text("utf-8")) or {}).get("intents") or [])
    return intents


@pytest.mark.skipif(not SHARED_VOCABULARY.exists(), reason="the shared contract is not checked out beside the repo")
def test_vocabulary_matches_the_shared_contract():
    shared = yaml.safe_load(Path(SHARED_VOCABULARY).read_text("utf-8"))
    assert VOCABULARY_INTENTS == set(shared["intents"])


def test_every_engine_intent_maps_to_a_vocabulary_name():
    for intent in domain_intents() | {"nlu_fallback", None, "something_new"}:
        assert to_vocabulary(intent) in VOCABULARY_INTENTS
    assert to_vocabulary("emergency") == "request_human"
    assert to_vocabulary("ask_fee") == "ask_fee"
