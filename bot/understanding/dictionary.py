"""The jieba user dictionary built from the catalogue, so the dialogue engine's tokenizer keeps service names whole.

Without it jieba splits 居住证 into 居住/证 and 异地就医备案 into four words, and
the engine's entity spans no longer match token boundaries.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # jieba loads its dictionary on import: only when first needed
    import jieba

from bot.knowledge.catalogue import Catalogue
from bot.understanding.normalise import CJK, normalise

# Far above any split of the word in jieba's own dictionary, so the word wins in any sentence.
SAFETY_FACTOR = 10
MIN_FREQUENCY = 1000
# Used when jieba is not installed: high enough for any split into two common words.
FALLBACK_FREQUENCY = 20000

_HAS_CJK = re.compile(f"[{CJK}]")
_SEPARATORS = re.compile(r"[\s()（）、，,/。？?!！：:；;]+")
# Aliases that are whole questions or sentences (身份证丢了, 失业了能领钱吗) would hide their words from
# the intent classifier as one opaque token; they stay out.
_SENTENCE_MARKERS = re.compile("吗|呢|吧|什么|怎么|哪里|哪儿|了|着")
MAX_WORD_LENGTH = 8
# A verb glued to a name (办居住证, 社保卡补办) is two words for the engine: the verb tells what the person wants.
_VERBS = (
    "办理", "补办", "申请", "申领", "换领", "补领", "注册", "挂失", "激活", "查询", "提取", "注销", "变更",
    "办", "补", "换", "领", "开", "提", "取", "查", "报", "交", "缴", "吃", "评", "要", "讨", "去",
)


def dictionary_words(catalogue: Catalogue) -> list[str]:
    """The words the tokenizer must keep whole: names, short names, aliases and keyword words with Chinese characters."""
    words: dict[str, None] = {}

    def add(candidates: Iterable[str], *, names: bool = False) -> None:
        for candidate in candidates:
            for piece in _SEPARATORS.split(normalise(candidate)):
                if len(piece) < 2 or not _HAS_CJK.search(piece) or " " in piece:
                    continue
                if not names and (len(piece) > MAX_WORD_LENGTH or _SENTENCE_MARKERS.search(piece)):
                    continue
                words.setdefault(piece, None)

    for service in catalogue.services.values():
        add([service.name, service.short_name], names=True)
        add(service.aliases)
    for keywords in catalogue.keywords.values():
        add(part for keyword in keywords for part in keyword.parts)
    return [word for word in words if not _verb_and_word(word, words)]


def _verb_and_word(word: str, words: dict[str, None]) -> bool:
    """Whether `word` is a verb joined to another dictionary word (办居住证, 社保卡补办)."""
    for verb in _VERBS:
        if word.startswith(verb) and word[len(verb):] in words:
            return True
        if word.endswith(verb) and len(verb) > 1 and word[: -len(verb)] in words:
            return True
    return False


@lru_cache(maxsize=1)
def _plain_tokenizer() -> jieba.Tokenizer:
    """jieba with only its own dictionary: what the engine's tokenizer starts from."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    tokenizer.initialize()
    return tokenizer


def _frequencies(words: list[str]) -> dict[str, int]:
    try:
        tokenizer = _plain_tokenizer()
    except ImportError:
        return {word: FALLBACK_FREQUENCY for word in words}
    return {
        word: max(MIN_FREQUENCY, SAFETY_FACTOR * tokenizer.suggest_freq(word, tune=False)) for word in words
    }


def write_jieba_dictionary(catalogue: Catalogue, path: Path) -> None:
    """Writes the catalogue's words as a jieba user dictionary, one "word frequency" per line."""
    words = dictionary_words(catalogue)
    frequencies = _frequencies(words)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{word} {frequencies[word]}\n" for word in words), encoding="utf-8")
