"""Every reply the phone line may speak is written for the ear: no "click", "shown", "below" or "type"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import texts
from bot.settings import REPO_ROOT

pytestmark = pytest.mark.timeout(30)

# Files of sentences the phone line never speaks: the Telegram and WeChat channels' own messages.
NOT_ON_THE_PHONE = {"telegram.yml", "wechat.yml"}
# Words that only make sense on a screen: 点 as "tap" (not 9点, 几点, 出了点问题, 地点), "shown", "below"...
SCREEN_WORDS = re.compile(r"请点|就点|点(?:一下|一个|击|“|下面|上面|这里|这个|我|按钮|选)|显示|下面|上面|下方|上方|写下|打字|按钮|屏幕|页面|链接")


# Where the sentences are: the engine's domain, and the texts only custom actions say (bot/texts.py).
SENTENCE_FILES = ("domain", "texts")


def sentence_files() -> list[Path]:
    """Every file of sentences the phone line may speak."""
    return [p for folder in SENTENCE_FILES for p in sorted((REPO_ROOT / "dialogues" / folder).glob("*.yml"))
            if p.name not in NOT_ON_THE_PHONE]


def spoken_responses() -> dict[str, str]:
    """Every text and button title the phone line may speak, by file ("domain/sms.yml") and response name."""
    import yaml

    found = {}
    for path in sentence_files():
        where = f"{path.parent.name}/{path.name}"
        responses = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("responses") or {}
        for name, variants in responses.items():
            for index, variant in enumerate(variants):
                found[f"{where}:{name}:{index}"] = variant.get("text", "")
                for button in variant.get("buttons") or []:
                    found[f"{where}:{name}:{index}:{button['title']}"] = button["title"]
    return found


def test_the_walk_covers_the_replies_of_every_feature():
    files = {key.split(":")[0] for key in spoken_responses()}
    assert files == {f"{p.parent.name}/{p.name}" for p in sentence_files() if "responses" in p.read_text(encoding="utf-8")}
    assert "texts/sms.yml" in files
    assert {"utter_which_service", "utter_out_of_scope", "utter_phone_menu"} <= {
        key.split(":")[1] for key in spoken_responses()}


def test_no_reply_spoken_on_the_phone_needs_a_screen():
    screen_bound = {key: text for key, text in spoken_responses().items() if SCREEN_WORDS.search(text)}
    assert screen_bound == {}


@pytest.mark.parametrize("text", ["请点一下", "点一个就行", "回复会直接显示在这里", "请从下面选一个", "点“是”"])
def test_the_check_finds_screen_wording(text):
    assert SCREEN_WORDS.search(text)


@pytest.mark.parametrize("text", ["9点到12点", "几点上班", "说慢一点", "8点半", "系统出了点问题", "办理地点"])
def test_the_check_leaves_times_alone(text):
    assert not SCREEN_WORDS.search(text)


def test_texts_are_the_same_on_every_channel():
    # The phone speaks the dialogue's own replies; there is no separate screen wording to fall back on.
    assert texts.text("utter_which_service") == texts.load_responses()["utter_which_service"][0]["text"]
