"""What the phone line says, composed from the domain texts, and the prompts rendered before any call.

The apology is also shipped as a small 8 kHz WAV (`audio/apology-8k.wav`) so that it plays even
when synthesis is broken; `python -m channels.phone.prompts` renders it again after its wording
in `dialogues/domain/phone.yml` changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot import texts
from bot.conversation import engine_unavailable_message
from channels.phone import menus
from channels.phone.keypad import is_id_slot, offers_own_number, speakable
from channels.phone.menus import Choice
from speech.audio import TELEPHONY_RATE, read_wav, resample_clip, write_wav
from speech.errors import AudioDecodeError, SpeechError
from speech.pipeline import PromptCache, Synthesis
from speech.providers import AudioClip

log = logging.getLogger(__name__)

APOLOGY_WAV = Path(__file__).resolve().parent / "audio" / "apology-8k.wav"
# Prompts said without any dialogue turn; rendered at start so that they play at once.
FIXED_PROMPTS = (
    "utter_phone_greeting", "utter_phone_still_there", "utter_phone_goodbye", "utter_phone_transferring",
    "utter_phone_transfer_failed", "utter_phone_hold", "utter_phone_passed_to_staff", "utter_phone_not_heard",
    "utter_phone_key_invalid", "utter_phone_slower", "utter_phone_keypad_only", "utter_phone_reenter",
    "utter_phone_no_number", "utter_phone_apology",
)


@dataclass(frozen=True)
class Prompt:
    """What the caller was last asked: the words, the keypad choices, and whether a number is expected."""

    text: str
    choices: tuple[Choice, ...] = ()
    number_slot: str | None = None
    own_number: bool = False


def say(response: str, **values: object) -> str:
    """One phone sentence from the domain."""
    return texts.text(response, **values)


def sentence(text: str) -> str:
    """The text ending with a full stop, so that sentences joined for speech keep their pauses."""
    text = text.strip()
    return text if not text or text[-1] in "。！？!?；;" else text + "。"


def spoken(prompt: Prompt) -> str:
    """The prompt as it is said: its words, then how to answer (the keys, or how to enter a number)."""
    parts = [sentence(prompt.text)]
    if prompt.number_slot:
        parts.append(say("utter_phone_number_hint"))
        if is_id_slot(prompt.number_slot):
            parts.append(say("utter_phone_id_x_hint"))
        if prompt.own_number:
            parts.append(say("utter_phone_own_number_hint"))
    elif prompt.choices:
        parts.append(menus.read_options(prompt.choices))
    return "".join(p for p in parts if p)


def menu_prompt(listening: bool = True) -> Prompt:
    """The top-level menu of the most asked services; without a recogniser it asks for keys only."""
    text, choices = menus.menu()
    return Prompt(text if listening else say("utter_phone_keypad_only"), choices)


def number_prompt(text: str, slot: str, caller_mobile: str | None) -> Prompt:
    """A question whose answer is an ID or phone number."""
    return Prompt(text, (), slot, own_number=bool(caller_mobile) and offers_own_number(slot))


def engine_unavailable_prompt() -> Prompt:
    """What the caller hears when the dialogue engine cannot answer (the same words as on every channel)."""
    message = engine_unavailable_message()
    return Prompt(message.text, menus.choices_for(message.buttons))


def thinking_tone(sample_rate: int = TELEPHONY_RATE) -> AudioClip:
    """Two soft rising notes: "still here, working on it" while the dialogue takes its time (no words)."""
    notes = []
    for freq in (523.25, 659.25):  # C5, E5
        t = np.arange(int(sample_rate * 0.14)) / sample_rate
        envelope = np.minimum(1.0, np.minimum(t, t[::-1]) / 0.02)  # 20 ms fades: no clicks
        notes.append(0.06 * envelope * np.sin(2 * np.pi * freq * t))
    samples = np.concatenate([notes[0], np.zeros(int(sample_rate * 0.04)), notes[1], np.zeros(int(sample_rate * 0.5))])
    return AudioClip((samples * 32767).astype("<i2").tobytes(), sample_rate)


def shipped_apology() -> AudioClip | None:
    """The apology recorded in the repository, at the telephone rate; None when the file is missing."""
    try:
        clip = read_wav(APOLOGY_WAV.read_bytes())
    except (OSError, AudioDecodeError) as err:
        log.error("the recorded apology %s cannot be read: %s", APOLOGY_WAV, err)
        return None
    return clip if clip.sample_rate == TELEPHONY_RATE else resample_clip(clip, TELEPHONY_RATE)


class PhonePrompts:
    """The phone line's prompt cache and its apology, shared by every call."""

    def __init__(self, speech: Synthesis | None, sample_rate: int = TELEPHONY_RATE, locale: str = "zh-CN") -> None:
        self.cache = PromptCache(speech, sample_rate, locale)
        self.apology = shipped_apology()
        self.thinking = thinking_tone(sample_rate)
        self.rendered_apology = False

    @property
    def listening(self) -> bool:
        """Whether callers' speech can be recognised (otherwise the line offers keys only)."""
        speech = self.cache.speech
        return speech is not None and speech.can_recognise(self.cache.locale)

    def fixed_texts(self) -> list[str]:
        """Every prompt spoken without a dialogue turn, as it is said."""
        result = [say(name) for name in FIXED_PROMPTS]
        result += [spoken(menu_prompt()), spoken(menu_prompt(listening=False)), spoken(engine_unavailable_prompt())]
        return [speakable(text) for text in result]

    async def warm(self) -> list[str]:
        """Renders the fixed prompts; the apology is taken from synthesis when it works, else the shipped WAV."""
        failed = await self.cache.warm(self.fixed_texts(), ["slow"])
        apology = None
        if not failed:
            # Kept whole, so that it plays as one clip even when synthesis fails later.
            with contextlib.suppress(Exception):  # the shipped recording stands in
                apology = await self.cache.clip(say("utter_phone_apology"), "slow")
        if apology is not None:
            self.apology, self.rendered_apology = apology, True
        if failed:
            log.warning("%d phone prompts could not be rendered; the recorded apology stands in", len(failed))
        return failed


async def render_apology(path: Path = APOLOGY_WAV) -> Path:
    """Renders the apology of phone.yml with the configured synthesiser into the shipped WAV."""
    from speech.service import build_synthesizer
    from bot.settings import get_settings

    tts = build_synthesizer("pyttsx3", get_settings().speech_cache_dir)
    assert tts is not None  # the pyttsx3 provider is never switched off
    try:
        clip = await tts.synthesize(say("utter_phone_apology"), rate="slow", sample_rate=TELEPHONY_RATE)
    finally:
        tts.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(write_wav(clip))
    return path


if __name__ == "__main__":
    try:
        print(asyncio.run(render_apology()))
    except SpeechError as err:
        sys.exit(str(err))
