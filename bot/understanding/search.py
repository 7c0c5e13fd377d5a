"""Which of the catalogue's services a message is about.

Residents name a service in many ways: an official name, a colloquial alias, a
typo, a word typed in toneless pinyin, a homophone that a voice transcript or
a pinyin keyboard produced, a southern accent's near-homophone (z/zh, n/l,
an/ang, f/h ...), or no name at all but a description of their problem
("老板不给钱"). The matcher scores each way of matching and returns the
plausible services, best first; two services close in score are both returned
so the dialogue can ask which one is meant.
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from bot.knowledge.catalogue import Catalogue, Keyword, get_catalogue
from bot.understanding.ages import spoken_ages
from bot.understanding.normalise import CJK, normalise
from bot.understanding.pinyin import (
    VOWELS,
    char_readings,
    contextual_syllables,
    fuzzy_readings,
    fuzzy_syllable,
    segment_pinyin,
)

# Scores of each way of matching (0..1); `_exact_matches` and `_sound_match` adjust them for length.
PINYIN_SCORE = 0.9
HOMOPHONE_SCORE = 0.84
NEAR_HOMOPHONE_SCORE = 0.74
KEYWORD_CAP = 0.88
KEYWORD_EXTRA_HIT = 0.05
METHOD_AGREEMENT_BONUS = 0.03
# A service named only as a document to bring for another service ("办居住证要带身份证吗").
MATERIAL_MENTION_FACTOR = 0.7
# Matches below this are noise; matches this far below the best are not plausible alternatives.
MIN_SCORE = 0.55
MAX_BELOW_BEST = 0.3
# Words of a descriptive keyword phrase may be this many characters apart.
KEYWORD_MAX_GAP = 10
KEYWORD_SHORT_GAP = 2
# Matching costs time in proportion to length; a resident names their matter well before this.
MAX_MATCH_CHARS = 500
# Sound-alike matching below three syllables confuses ordinary words (低保/地宝), so it needs three.
MIN_SOUND_SYLLABLES = 3

_CJK_CHAR = re.compile(f"[{CJK}]")
_LATIN_RUN = re.compile(r"[a-z]+(?: [a-z]+)*")
_CLAUSE = re.compile(rf"[{CJK}0-9a-z]+")
_TERM_SEPARATORS = re.compile(r"[()（）、，,/]")
# Words that make a name a document to bring (要带身份证, 需要户口本吗, 身份证复印件).
_MATERIAL_CUE = re.compile("带|拿|需要|要不要|用|提供|交|复印|准备|凭|出示|还要|得有")
# ... or a document the person already holds ("居住证我们都有"), told as background for another service.
_MATERIAL_AFTER = re.compile("原件|复印件|照片|号码|(?:我们|我|俺|咱们|咱|他们|他|她)(?:都|也|早就|已经)?有")
# A document the person says they hold ("我们有居住证", "拿着身份证", "社保卡早办了") is background to the
# service they ask about, even when the catalogue does not list it among that service's materials.
# Before the name only verbs that take it as object: "办了" may end the clause before ("早办了，养老金认证…");
# and "要有/得有/没有" is a condition asked about ("老师说要有居住证"), not a document held.
_HELD_BEFORE = re.compile("(?:(?<![要得需须没才能])有|拿着|带着|带了|揣着)(?:个|张|本)?$")
_HELD_AFTER = re.compile(
    "(?:号|号码)?(?:我们|我|俺|咱们|咱|他们|他|她|家里)?(?:都|也|早就|早|已经)?(?:有|办了|办好了|办过|领了|准备好|备好|备齐)")


@dataclass(frozen=True)
class ServiceMatch:
    """A service a message is probably about: how sure (0..1), which alias or phrase matched, and how."""

    service_id: str
    score: float
    alias: str
    method: str  # exact | pinyin | homophone | near_homophone | typo | keyword
    # True when the name is only a document to bring or one already held, for another service named too.
    background: bool = False


@dataclass(frozen=True)
class _Term:
    service_id: str
    alias: str  # as the catalogue writes it
    text: str  # normalised, as it appears in a normalised message
    syllables: tuple[str, ...]  # toneless pinyin, () when the alias cannot be spelt in pinyin
    fuzzy: tuple[str, ...]
    letters: str  # the pinyin typed without spaces ("shebaoka"), "" when unknown


@dataclass(frozen=True)
class _Evidence:
    service_id: str
    score: float
    alias: str
    method: str
    start: int
    end: int
    # False for a keyword whose words lie apart: whatever is between them is not part of the phrase.
    solid: bool = True
    background: bool = False


@dataclass(frozen=True)
class _Position:
    """One syllable of the message: its possible readings, where it is in the text, and whether it was typed in Latin."""

    readings: frozenset[str]
    fuzzy: frozenset[str]
    start: int
    end: int
    latin: bool


# ---------------------------------------------------------------- common words


@lru_cache(maxsize=2)
def _common_words(bigrams: frozenset[str], ends: frozenset[tuple[str, str]]) -> frozenset[str]:
    """Ordinary words (jieba's dictionary) close enough to an alias to be mistaken for its typo (居住地, 老人家).

    Only words sharing two adjacent characters, or the first and last character of
    a three-character alias, can be one edit away from an alias, so only those are
    kept; cached, because editing a service's text rarely changes its aliases.
    """
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    words = set()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            word = line[: line.find(" ")]
            size = len(word)
            if 3 <= size <= 10 and (
                (word[0], word[-1]) in ends or any(word[i:i + 2] in bigrams for i in range(size - 1))
            ):
                words.add(word)
    return frozenset(words)


@lru_cache(maxsize=1)
def _two_character_words() -> frozenset[str]:
    """jieba's two-character words: a name missing its first character may just follow another word (参保申请)."""
    import jieba

    path = Path(jieba.__file__).parent / "dict.txt"
    with path.open(encoding="utf-8") as lines:
        return frozenset(word for word, _, _rest in (line.partition(" ") for line in lines) if len(word) == 2)


# ---------------------------------------------------------------- the matcher


def _similar_sound(a: str, b: str) -> bool:
    """Two characters a pinyin keyboard easily swaps: the same sound with an accent, or the same initial."""
    for x in fuzzy_readings(a):
        for y in fuzzy_readings(b):
            if x == y or _initial(x) == _initial(y):
                return True
    return False


def _initial(syllable: str) -> str:
    for index, char in enumerate(syllable):
        if char in VOWELS:
            return syllable[:index]
    return syllable


class ServiceMatcher:
    """Finds the catalogue services a message is about; indexes are built once per catalogue."""

    def __init__(self, catalogue: Catalogue):
        self.catalogue = catalogue
        self._terms = self._build_terms(catalogue)
        # Indexed by first character: a message can only contain the names that start with one of its characters.
        self._exact: dict[str, list[_Term]] = defaultdict(list)
        for term in self._terms:
            self._exact[term.text[0]].append(term)
        self._by_syllables: dict[tuple[str, ...], list[_Term]] = defaultdict(list)
        self._by_fuzzy: dict[tuple[str, ...], list[_Term]] = defaultdict(list)
        self._by_first_char: dict[str, list[_Term]] = defaultdict(list)
        self._by_second_char: dict[str, list[_Term]] = defaultdict(list)
        self._by_second_char_long: dict[str, list[_Term]] = defaultdict(list)
        self._letters = [t for t in self._terms if len(t.letters) >= 4]
        for term in self._terms:
            if len(term.syllables) >= MIN_SOUND_SYLLABLES:
                self._by_syllables[term.syllables[:2]].append(term)
                self._by_fuzzy[term.fuzzy[:2]].append(term)
            if len(term.text) >= 3 and _CJK_CHAR.search(term.text):
                self._by_first_char[term.text[0]].append(term)
                self._by_second_char[term.text[1]].append(term)
                if len(term.text) >= 4:
                    self._by_second_char_long[term.text[1]].append(term)
        self._longest = max((len(t.text) for t in self._terms), default=0)
        self._keywords: dict[str, list[tuple[str, Keyword]]] = defaultdict(list)
        for service_id, keywords in catalogue.keywords.items():
            for keyword in keywords:
                # The phrases name ages as the message will say them (八十岁 and 80多 -> 80岁).
                keyword = replace(keyword, parts=tuple(spoken_ages(part) for part in keyword.parts))
                self._keywords[keyword.parts[0][0]].append((service_id, keyword))
        self._materials = {
            service.id: normalise(" ".join(m.name for m in service.materials)).replace(" ", "")
            for service in catalogue.services.values()
        }
        texts = [t.text for t in self._terms if _CJK_CHAR.search(t.text)]
        self._common_words = _common_words(
            frozenset(x[i:i + 2] for x in texts for i in range(len(x) - 1)),
            frozenset((x[0], x[-1]) for x in texts if len(x) == 3),
        )
        _two_character_words()  # loaded with the matcher, not on the first message that needs it

    @classmethod
    def from_catalogue(cls, catalogue: Catalogue | None = None) -> ServiceMatcher:
        """The matcher of `catalogue` (default: the current one); reused until the catalogue reloads."""
        catalogue = catalogue or get_catalogue()
        with _shared_lock:
            cached = _shared.get("matcher")
            if cached is None or cached.catalogue is not catalogue:
                cached = cls(catalogue)
                _shared["matcher"] = cached
            return cached

    @staticmethod
    def _build_terms(catalogue: Catalogue) -> list[_Term]:
        terms: dict[tuple[str, str], _Term] = {}
        for service in catalogue.services.values():
            names = [service.name, service.short_name, *service.aliases]
            # An official name like "户口迁移、落户" or "...（不动产权属证明）" is several names; two-character
            # pieces of it (补换, 补领) are verbs that name no service.
            names += [
                part for name in names for part in _TERM_SEPARATORS.split(name) if part != name and len(part) >= 3
            ]
            for alias in names:
                text = normalise(alias).replace(" ", "")
                text = re.sub(r"[，。？]", "", text)
                if len(text) < 2 or (service.id, text) in terms:
                    continue
                syllables = contextual_syllables(text)
                letters = "".join(syllables) if syllables and all(s.isalpha() for s in syllables) else ""
                terms[(service.id, text)] = _Term(
                    service_id=service.id,
                    alias=alias,
                    text=text,
                    syllables=syllables,
                    fuzzy=tuple(fuzzy_syllable(s) for s in syllables),
                    letters=letters,
                )
        return list(terms.values())

    # ------------------------------------------------------------ public

    def match(self, text: str, limit: int = 3) -> list[ServiceMatch]:
        """The services `text` is probably about, best first; close candidates are all returned."""
        # Ages first: normalising drops the pauses that end a bare age ("我妈八十二 有钱领").
        message = normalise(spoken_ages(text[:MAX_MATCH_CHARS]))[:MAX_MATCH_CHARS]
        if not message or message.startswith("/"):
            return []
        evidence = self._exact_matches(message)
        positions = self._positions(message)
        evidence += self._sound_matches(message, positions)
        evidence += self._typed_pinyin_matches(message)
        evidence += self._typo_matches(message)
        evidence += self._keyword_matches(message)
        return self._rank(self._resolve(_first_occurrences(evidence), message), limit)

    # ------------------------------------------------------------ ways of matching

    def _exact_matches(self, message: str) -> list[_Evidence]:
        found = []
        for term in (t for char in set(message) for t in self._exact.get(char, ())):
            start = message.find(term.text)
            while start >= 0:
                end = start + len(term.text)
                if term.text.isascii():
                    # Latin aliases (sfz) must be whole words, not letters inside another word.
                    before = message[start - 1:start]
                    after = message[end:end + 1]
                    if before.isascii() and before.isalpha() or after.isascii() and after.isalpha():
                        start = message.find(term.text, start + 1)
                        continue
                    found.append(_Evidence(term.service_id, PINYIN_SCORE, term.alias, "pinyin", start, end))
                else:
                    score = 0.9 + 0.02 * min(len(term.text), 5)
                    found.append(_Evidence(term.service_id, score, term.alias, "exact", start, end))
                start = message.find(term.text, start + 1)
        return found

    @staticmethod
    def _positions(message: str) -> list[_Position | None]:
        """The message as a row of syllables; None marks a break (punctuation, digits, unknown letters)."""
        positions: list[_Position | None] = []
        index = 0
        length = len(message)
        while index < length:
            char = message[index]
            if "\u3400" <= char <= "\u9fff" or "\U00020000" <= char <= "\U0002a6df":
                readings = char_readings(char)
                positions.append(_Position(readings, fuzzy_readings(char), index, index + 1, False) if readings else None)
                index += 1
            elif "a" <= char <= "z":
                run = _LATIN_RUN.match(message, index)
                assert run is not None
                letters = run.group(0)
                offsets = [i for i, c in enumerate(letters) if c != " "]
                squeezed = letters.replace(" ", "")
                for syllable, start, end in segment_pinyin(squeezed):
                    if not syllable:
                        positions.append(None)
                        continue
                    positions.append(
                        _Position(
                            frozenset((syllable,)),
                            frozenset((fuzzy_syllable(syllable),)),
                            index + offsets[start],
                            index + offsets[end - 1] + 1,
                            True,
                        )
                    )
                index = run.end()
            elif char.isdigit():
                end = index
                while end < length and message[end].isdigit():
                    end += 1
                token = message[index:end]
                positions.append(_Position(frozenset((token,)), frozenset((token,)), index, end, False))
                index = end
            else:
                if char != " ":
                    positions.append(None)
                index += 1
        return positions

    def _sound_matches(self, message: str, positions: list[_Position | None]) -> list[_Evidence]:
        found = []
        count = len(positions)
        for i in range(count - MIN_SOUND_SYLLABLES + 1):
            first, second = positions[i], positions[i + 1]
            if first is None or second is None:
                continue
            seen: set[int] = set()
            for exact_sound in (True, False):
                index = self._by_syllables if exact_sound else self._by_fuzzy
                heads = (first.readings, second.readings) if exact_sound else (first.fuzzy, second.fuzzy)
                for a in heads[0]:
                    for b in heads[1]:
                        for term in index.get((a, b), ()):
                            if id(term) in seen:
                                continue
                            evidence = self._sound_match(term, positions, i, message, exact_sound)
                            if evidence:
                                seen.add(id(term))
                                found.append(evidence)
        return found

    def _sound_match(
        self, term: _Term, positions: list[_Position | None], i: int, message: str, exact_sound: bool
    ) -> _Evidence | None:
        wanted = term.syllables if exact_sound else term.fuzzy
        n = len(wanted)
        if i + n > len(positions):
            return None
        window = positions[i:i + n]
        for position, syllable in zip(window, wanted):
            if position is None or syllable not in (position.readings if exact_sound else position.fuzzy):
                return None
        start, end = window[0].start, window[-1].end  # type: ignore[union-attr]  # no None: checked above
        written = message[start:end]
        if written.replace(" ", "") == term.text:
            return None  # the exact pass has it
        typed = any(p.latin for p in window)  # type: ignore[union-attr]  # as above
        bonus = 0.01 * min(n - MIN_SOUND_SYLLABLES, 3)
        if typed:
            return _Evidence(term.service_id, PINYIN_SCORE if exact_sound else NEAR_HOMOPHONE_SCORE + bonus,
                             term.alias, "pinyin" if exact_sound else "near_homophone", start, end)
        if exact_sound:
            return _Evidence(term.service_id, HOMOPHONE_SCORE + bonus, term.alias, "homophone", start, end)
        if written in self._common_words:
            return None  # an ordinary word that merely sounds alike with an accent
        return _Evidence(term.service_id, NEAR_HOMOPHONE_SCORE + bonus, term.alias, "near_homophone", start, end)

    def _typed_pinyin_matches(self, message: str) -> list[_Evidence]:
        found = []
        for run in _LATIN_RUN.finditer(message):
            letters = run.group(0).replace(" ", "")
            if len(letters) < 4:
                continue
            for term in self._letters:
                # A whole typed word may be a two-syllable alias (dibao); inside longer text it needs more letters.
                if letters == term.letters or (len(term.letters) >= 6 and term.letters in letters):
                    found.append(_Evidence(term.service_id, PINYIN_SCORE, term.alias, "pinyin", run.start(), run.end()))
        return found

    def _typo_matches(self, message: str) -> list[_Evidence]:
        found = []
        for clause in _CLAUSE.finditer(message):
            text, offset = clause.group(0), clause.start()
            length = len(text)
            for i in range(length - 1):
                # With one slip, a name starts at its first character, at its second (first dropped, long
                # names only) or one character earlier than its second (first swapped).
                candidates = {
                    id(t): t
                    for t in (
                        *self._by_first_char.get(text[i], ()),
                        *self._by_second_char_long.get(text[i], ()),
                        *self._by_second_char.get(text[i + 1], ()),
                    )
                }
                segment = text[i:i + self._longest + 1]
                for term in candidates.values():
                    # One slip leaves one half of the name intact: a cheap test before the edit distance.
                    half = len(term.text) // 2
                    if term.text[:half] not in segment and term.text[half:] not in segment:
                        continue
                    evidence = self._typo_match(term, text, i)
                    if evidence:
                        found.append(replace(evidence, start=evidence.start + offset, end=evidence.end + offset))
        return found

    def _typo_match(self, term: _Term, text: str, i: int) -> _Evidence | None:
        size = len(term.text)
        for width in (size + 1, size, size - 1):
            if i + width > len(text):
                continue
            window = text[i:i + width]
            if Levenshtein.distance(window, term.text, score_cutoff=1) != 1:
                continue
            if window in self._common_words:
                continue
            if (width == size - 1 and i > 0 and window == term.text[1:]
                    and text[i - 1] + window[0] in _two_character_words()):
                # "参保申请" is not "低保申请" without its 低: the character before forms a word with the window's first.
                continue
            if width == size:
                # A swapped character in a short name is only a slip when it sounds alike (the usual pinyin
                # keyboard or listening error); otherwise 带身份证 would be a typo of 办身份证.
                slip = next(k for k in range(size) if window[k] != term.text[k])
                if size <= 4 and not _similar_sound(window[slip], term.text[slip]):
                    continue
            if size == 3:
                # Two of three characters is a weak sign: a dropped character only in the middle (社卡).
                if width == 2 and window != term.text[0] + term.text[2]:
                    continue
                score = 0.72 if width == 4 else 0.58
            else:
                score = 0.74 if size == 4 else 0.78
            return _Evidence(term.service_id, score, term.alias, "typo", i, i + width)
        return None

    def _keyword_matches(self, message: str) -> list[_Evidence]:
        found = []
        for service_id, keyword in (k for char in set(message) for k in self._keywords.get(char, ())):
            first = keyword.parts[0]
            start = message.find(first)
            while start >= 0:
                end = start + len(first)
                previous = first
                for part in keyword.parts[1:]:
                    # A one-character word binds to its neighbour (上 户口 is not 上一年级户口).
                    gap = KEYWORD_SHORT_GAP if min(len(previous), len(part)) == 1 else KEYWORD_MAX_GAP
                    following = message.find(part, end, end + gap + len(part))
                    if following < 0:
                        break
                    end, previous = following + len(part), part
                else:
                    solid = end - start == sum(len(p) for p in keyword.parts)
                    found.append(_Evidence(service_id, keyword.weight, keyword.phrase, "keyword", start, end, solid))
                    break
                start = message.find(first, start + 1)
        return found

    # ------------------------------------------------------------ deciding

    def _resolve(self, evidence: list[_Evidence], message: str) -> list[_Evidence]:
        """Drops matches that are only part of a longer name of another service; weakens documents-to-bring."""
        exact = [e for e in evidence if e.method in ("exact", "pinyin")]
        kept = []
        for e in evidence:
            # A name as written only yields to a longer name as written (年审 inside 居住证年审); weaker evidence
            # also yields to a longer phrase of another service (工资没发 inside 退休工资没发).
            covered = any(
                o.service_id != e.service_id
                and o.solid
                and o.start <= e.start
                and e.end <= o.end
                and (
                    o.end - o.start > e.end - e.start
                    or (o.method in ("exact", "pinyin") and e.method not in ("exact", "pinyin"))
                )
                and (o.method in ("exact", "pinyin") or e.method not in ("exact", "pinyin"))
                for o in evidence
            )
            # A slip that merely stretches an alias found as written (带身份证 around 身份证) adds nothing.
            explained = e.method in ("typo", "homophone", "near_homophone") and any(
                o.service_id == e.service_id and e.start <= o.start and o.end <= e.end for o in exact
            )
            if not covered and not explained:
                kept.append(e)
        services = {e.service_id for e in kept if e.score >= 0.7}
        if len(services) < 2:
            return kept
        mentions = {}
        for e in kept:
            written = message[e.start:e.end].replace(" ", "")
            before = message[max(0, e.start - 4):e.start]
            if not (_MATERIAL_CUE.search(before) or _HELD_BEFORE.search(before) or _MATERIAL_AFTER.match(message, e.end)
                    or _HELD_AFTER.match(message, e.end)):
                continue
            held = bool(_HELD_BEFORE.search(before) or _HELD_AFTER.match(message, e.end))
            hosts = [
                s for s in services
                if s != e.service_id and written and (held or written in self._materials.get(s, ""))
                and any(o.service_id == s and (o.end <= e.start or o.start >= e.end) for o in kept)
            ]
            if hosts:
                mentions[id(e)] = hosts
        if not mentions:
            return kept
        # When two services are each a document of the other, the one named later is the document.
        result = []
        for e in kept:
            named_in = mentions.get(id(e))
            if named_in:
                mutual = [
                    o for o in kept
                    if id(o) in mentions and o.service_id in named_in and e.service_id in mentions[id(o)]
                ]
                if not mutual or all(e.start > o.start for o in mutual):
                    e = replace(e, score=e.score * MATERIAL_MENTION_FACTOR, background=True)
            result.append(e)
        # A phrase that begins with a background name ("身份证 在哪 办" over "拿着身份证，…在哪办") is background too.
        held_names = [(e.service_id, e.start) for e in result if e.background]
        return [
            replace(e, score=e.score * MATERIAL_MENTION_FACTOR, background=True)
            if not e.background and any(s == e.service_id and e.start <= start < e.end for s, start in held_names)
            else e
            for e in result
        ]

    @staticmethod
    def _rank(evidence: list[_Evidence], limit: int) -> list[ServiceMatch]:
        by_service: dict[str, list[_Evidence]] = defaultdict(list)
        for e in evidence:
            by_service[e.service_id].append(e)
        matches = []
        for service_id, items in by_service.items():
            best = max(items, key=lambda e: (e.score, e.end - e.start))
            score = best.score
            if best.method == "keyword":
                phrases = {e.alias for e in items if e.method == "keyword"}
                score = min(KEYWORD_CAP, score + KEYWORD_EXTRA_HIT * (len(phrases) - 1))
            methods = {e.method for e in items if e.score >= MIN_SCORE}
            score = min(1.0, score + METHOD_AGREEMENT_BONUS * max(0, len(methods) - 1))
            matches.append(ServiceMatch(service_id, round(score, 4), best.alias, best.method, best.background))
        matches.sort(key=lambda m: (-m.score, m.service_id))
        if not matches:
            return []
        floor = max(MIN_SCORE, matches[0].score - MAX_BELOW_BEST)
        return [m for m in matches if m.score >= floor][: max(0, limit)]


def _first_occurrences(evidence: list[_Evidence], keep: int = 2) -> list[_Evidence]:
    """At most `keep` occurrences of each match, so a long repetitive message costs no more than a short one."""
    seen: dict[tuple[str, str, str], int] = defaultdict(int)
    result = []
    for e in evidence:
        key = (e.service_id, e.alias, e.method)
        seen[key] += 1
        if seen[key] <= keep:
            result.append(e)
    return result


_shared: dict[str, ServiceMatcher] = {}
_shared_lock = threading.Lock()
