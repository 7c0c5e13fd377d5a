"""Turns what people type into the Chinese the engine was trained on, before anything reads it.

Dialect words become Mandarin (knowledge_base/dialect_words.yml: "咋整" → "怎么办",
"点样" → "怎么样", "伐" at a clause's end → "吗"). Migrant workers often type toneless pinyin ("laonianzheng zai nali ban") or mix in
English words ("我的ID card丢了"). Both are rewritten into Chinese words: English
through a glossary (knowledge_base/english_words.yml), pinyin through a lexicon of
every word the training data and the catalogue use, read aloud with pypinyin, so
"zai nali ban" becomes the "在哪里办" the engine has seen. Text that is not pinyin
(English words, codes, numbers) is left as it is.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import yaml

from bot.settings import REPO_ROOT
from bot.understanding.normalise import normalise
from bot.understanding.pinyin import char_readings, segment_pinyin

NLU_DIR = REPO_ROOT / "dialogues" / "data" / "nlu"
GLOSSARY_PATH = REPO_ROOT / "knowledge_base" / "english_words.yml"
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\{[^}]*\}|\([^)]*\))")
_CJK_WORD = re.compile(r"^[\u3400-\u9fff]+$")
_LATIN_RUN = re.compile(r"[a-z][a-z' ]*[a-z]|[a-z]")
# The longest word of the lexicon, in syllables: longer pinyin is split into several words.
MAX_WORD_SYLLABLES = 6


def training_sentences(nlu_dir: Path = NLU_DIR) -> list[str]:
    """Every example sentence of the NLU training data, without entity annotations."""
    sentences = []
    for path in sorted(nlu_dir.glob("*.yml")):
        for block in (yaml.safe_load(path.read_text("utf-8")) or {}).get("nlu") or []:
            for line in str(block.get("examples") or "").splitlines():
                line = line.strip().removeprefix("- ").strip()
                if line:
                    sentences.append(_ANNOTATION.sub(r"\1", line))
    return sentences


@functools.lru_cache(maxsize=1)
def lexicon() -> dict[tuple[str, ...], str]:
    """Toneless pinyin syllables → the most frequent Chinese word (or character) with that reading."""
    import jieba
    from pypinyin import lazy_pinyin

    from bot.knowledge.catalogue import get_catalogue

    jieba.setLogLevel(60)
    counts: Counter[str] = Counter()
    catalogue = get_catalogue()
    texts = training_sentences() + [n for s in catalogue.services.values() for n in (s.short_name, *s.aliases)]
    for text in texts:
        for word in jieba.lcut(normalise(text)):
            if _CJK_WORD.match(word):
                counts[word] += 1
                counts.update(word)  # characters too: a fallback for syllables no word covers
    best: dict[tuple[str, ...], tuple[int, str]] = {}
    for word, count in counts.items():
        key = tuple(lazy_pinyin(word))
        if len(key) <= MAX_WORD_SYLLABLES and (key not in best or count > best[key][0]):
            best[key] = (count, word)
    return {key: word for key, (_count, word) in best.items()}


@functools.lru_cache(maxsize=1)
def glossary() -> list[tuple[re.Pattern[str], str]]:
    """English words and phrases → Chinese, longest first, matched as whole words."""
    data = yaml.safe_load(GLOSSARY_PATH.read_text("utf-8")) or {}
    pairs = sorted(((str(k).lower(), str(v)) for k, v in (data.get("words") or {}).items()),
                   key=lambda pair: -len(pair[0]))
    return [(re.compile(rf"(?<![a-z]){re.escape(english)}(?![a-z])"), chinese) for english, chinese in pairs]


DIALECT_PATH = REPO_ROOT / "knowledge_base" / "dialect_words.yml"


# 么样/么事/么子 (湖北, 湖南) are also the end of 怎么样, 什么事, 这么样: only a 么 that starts a word counts.
_MO_WORD_GUARD = "(?<![怎什这那多要])"


@functools.lru_cache(maxsize=1)
def dialect() -> tuple[re.Pattern[str] | None, dict[str, str], list[tuple[re.Pattern[str], str]]]:
    """Dialect words (one pattern, longest first) with their Mandarin, and clause-final particles → Mandarin."""
    data = yaml.safe_load(DIALECT_PATH.read_text("utf-8")) or {}
    words = {str(k): str(v) for k, v in (data.get("words") or {}).items()}
    alternatives = [(_MO_WORD_GUARD if word.startswith("么") else "") + re.escape(word)
                    for word in sorted(words, key=lambda w: -len(w))]
    pattern = re.compile("|".join(alternatives)) if alternatives else None
    endings = [(re.compile(rf"(?<=[\u4e00-\u9fff]){re.escape(str(k))}(?=[，。？]|$)"), str(v or ""))
               for k, v in (data.get("clause_end") or {}).items()]
    return pattern, words, endings


def dialect_to_mandarin(text: str) -> str:
    """Replaces dialect words and clause-final dialect particles with standard Mandarin.

    One pass over the text, so a replacement is never itself replaced again (点样 → 怎么 stays 怎么).
    """
    pattern, words, endings = dialect()
    if pattern is not None:
        text = pattern.sub(lambda m: words[m.group(0)], text)
    for ending, mandarin in endings:
        text = ending.sub(mandarin, text)
    return text


def english_to_chinese(text: str) -> str:
    """Replaces the glossary's English words (lower-case text) with their Chinese equivalents."""
    for pattern, chinese in glossary():
        if pattern.search(text):
            text = pattern.sub(chinese, text)
    return text


def _token_syllables(token: str) -> list[str] | None:
    """One token's syllables, None when a letter belongs to none; a northern "-r" ("nar", "zher") is 儿."""
    pieces = segment_pinyin(token)
    if all(syllable for syllable, _start, _end in pieces):
        return [syllable for syllable, _start, _end in pieces]
    if len(token) > 2 and token.endswith("r"):
        stem = _token_syllables(token[:-1])
        return None if stem is None else [*stem, "er"]
    return None


def _syllables(run: str) -> list[str] | None:
    """The run's syllables when every letter belongs to one, else None (not pinyin)."""
    syllables: list[str] = []
    for token in run.replace("'", " ").split():
        pieces = _token_syllables(token)
        if pieces is None:
            return None
        syllables += pieces
    return syllables


def pinyin_to_chinese(run: str, whole_message: bool = False) -> str:
    """Toneless pinyin (with or without spaces) as Chinese words; the run itself when it is not pinyin.

    One syllable is read only when it is the whole message ("dui", "hao"): inside a sentence it is
    more often an English word or a code.
    """
    syllables = _syllables(run)
    if not syllables or (len(syllables) < 2 and not (whole_message and len(run) > 1)):
        return run
    words = lexicon()
    n = len(syllables)
    # Fewest words covering all syllables; a syllable no word covers keeps its letters.
    best: list[tuple[int, list[str]] | None] = [(0, [])] + [None] * n
    for end in range(1, n + 1):
        for length in range(1, min(MAX_WORD_SYLLABLES, end) + 1):
            previous = best[end - length]
            if previous is None:
                continue
            word = words.get(tuple(syllables[end - length:end]))
            if word is None and length > 1:
                continue
            piece, cost = (word, previous[0] + 1) if word else (syllables[end - 1], previous[0] + 5)
            current = best[end]
            if current is None or cost < current[0]:
                best[end] = (cost, previous[1] + [piece])
    result = best[n]
    return "".join(result[1]) if result else run


_SPACED_CJK = re.compile(r"(?<=[\u3400-\u9fff])\s+(?=[\u3400-\u9fff])")
# Pieces this long on average are clauses ("我老伴去年住院 单子都留着 咋报"), not spaced-out words.
CLAUSE_PIECE_LENGTH = 3


# Hesitations a transcript puts between clauses ("嗯 孩子上学 那个 学校要 嗯 无房证明"); they say nothing
# about whether the other pieces are clauses or spaced-out words.
_HESITATION_PIECE = re.compile("(?:嗯|啊|呃|额|哦|唉|哎|那个|这个|就是|然后|就是说)+")


def mark_pauses(text: str) -> str:
    """Spaces between clauses of a voice transcript become commas, so the clauses survive normalising."""
    pieces = _SPACED_CJK.split(text.strip())
    words = [p for p in pieces if not _HESITATION_PIECE.fullmatch(p)]
    if len(pieces) > 1 and words and sum(len(p) for p in words) / len(words) >= CLAUSE_PIECE_LENGTH:
        return _SPACED_CJK.sub("，", text.strip())
    return text


# Short replies that a pinyin keyboard or a voice transcript spells with characters of the same sound
# ("泥好" for 你好, "布是" for 不是, "在见" for 再见): a whole message of that sound is the reply.
SOUND_ALIKE_REPLIES = ("你好", "您好", "不是", "不对", "是的", "对的", "好的", "谢谢", "再见", "不用",
                       "没有", "可以", "不要", "不行", "没事")


def sound_alike_reply(text: str) -> str:
    """The short reply `text` sounds like, or `text` itself; a word of its own ("步行", "可疑") stays."""
    if not 2 <= len(text) <= 3 or text in SOUND_ALIKE_REPLIES or not _CJK_WORD.match(text):
        return text
    import jieba

    if jieba.dt.FREQ.get(text):
        return text
    for reply in SOUND_ALIKE_REPLIES:
        if len(reply) == len(text) and all(char_readings(a) & char_readings(b) for a, b in zip(reply, text)):
            return reply
    return text


def rewrite(text: str) -> str:
    """Normalised text with English glossary words and pinyin turned into Chinese."""
    text = normalise(mark_pauses(text)) or text
    if text.startswith("/"):
        return text
    text = sound_alike_reply(dialect_to_mandarin(text))
    if not re.search(r"[a-z]", text):
        return text
    text = english_to_chinese(text)
    whole = _LATIN_RUN.fullmatch(text) is not None
    return _LATIN_RUN.sub(lambda m: pinyin_to_chinese(m.group(0), whole_message=whole), text)


def warm_up() -> None:
    """Builds the lexicon, the glossary and the service matcher (a few seconds) ahead of the first message."""
    from bot.understanding.search import ServiceMatcher

    lexicon()
    glossary()
    dialect()
    ServiceMatcher.from_catalogue()
