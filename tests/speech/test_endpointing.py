"""End of speech and barge-in, on synthetic tones and on real slow speech."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from speech.endpointing import BargeInDetector, EndpointConfig, Endpointer, EndpointKind, frame_levels
from tests.speech.conftest import silence, tone

RATE = 8000


def feed(endpointer: Endpointer, pcm: bytes, chunk_ms: int = 20) -> list:
    """Feed like a phone line does, chunk by chunk, remembering when each event came out."""
    step = RATE * chunk_ms // 1000 * 2
    out = []
    for start in range(0, len(pcm), step):
        for event in endpointer.process(pcm[start : start + step]):
            out.append((event, (start + step) // 2 * 1000 // RATE))
    return out


def test_frame_levels_measure_dbfs():
    levels = frame_levels(tone(0.1, RATE, dbfs=-20) + silence(0.1, RATE), RATE)
    assert len(levels) == 10
    assert levels[:5] == pytest.approx(-20, abs=0.5)
    assert all(levels[5:] <= -99)


def test_utterance_ends_after_the_trailing_silence_and_not_before():
    events = feed(Endpointer(RATE), silence(0.5, RATE) + tone(1.0, RATE) + silence(1.5, RATE))
    kinds = [e.kind for e, _ in events]
    assert kinds == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
    (start, _), (end, noticed_at) = events
    assert start.at_ms == 500
    assert end.at_ms == 1500 and end.reason == "silence"
    # Decided 700 ms after the caller stopped, not sooner and not much later.
    assert 2200 <= noticed_at <= 2240


def test_a_slow_callers_pause_mid_sentence_does_not_end_the_turn():
    pcm = tone(0.8, RATE) + silence(0.56, RATE) + tone(0.8, RATE) + silence(1.0, RATE)
    events = [e for e, _ in feed(Endpointer(RATE), pcm)]
    assert [e.kind for e in events] == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
    assert events[1].at_ms == 2160


def test_the_trailing_silence_is_configurable():
    pcm = silence(0.3, RATE) + tone(0.8, RATE) + silence(0.56, RATE) + tone(0.8, RATE) + silence(1.0, RATE)
    events = [e for e, _ in feed(Endpointer(RATE, EndpointConfig(trailing_silence_ms=400)), pcm)]
    assert events[-1].kind == EndpointKind.SPEECH_END and events[-1].at_ms == 1100


def test_endless_talk_is_cut_at_the_maximum_length():
    config = EndpointConfig(max_utterance_ms=3000)
    events = [e for e, _ in feed(Endpointer(RATE, config), tone(5.0, RATE))]
    assert events[-1].kind == EndpointKind.SPEECH_END
    assert (events[-1].at_ms, events[-1].reason) == (3000, "max_length")


def test_nobody_speaking_is_reported_after_the_timeout():
    endpointer = Endpointer(RATE, EndpointConfig(no_speech_timeout_ms=2000))
    events = [e for e, _ in feed(endpointer, silence(3.0, RATE))]
    assert [(e.kind, e.at_ms) for e in events] == [(EndpointKind.NO_SPEECH, 2000)]
    assert endpointer.done


def test_clicks_and_quiet_line_noise_do_not_open_an_utterance():
    pcm = silence(0.3, RATE) + tone(0.04, RATE) + tone(1.0, RATE, dbfs=-50) + silence(0.3, RATE)
    assert feed(Endpointer(RATE), pcm) == []


def with_noise(pcm: bytes, dbfs: float, seed: int = 5) -> bytes:
    """White noise at a level in dBFS added all through: a street or a market behind the caller."""
    x = np.frombuffer(pcm, "<i2").astype(np.float64)
    x += np.random.default_rng(seed).normal(0, 32768 * 10 ** (dbfs / 20), len(x))
    return np.clip(x, -32768, 32767).astype("<i2").tobytes()


def test_speech_in_noise_10_db_below_it_ends_within_about_a_second():
    pcm = with_noise(silence(0.5, RATE) + tone(1.0, RATE, dbfs=-20) + silence(3.0, RATE), dbfs=-30)
    events = feed(Endpointer(RATE), pcm)
    assert [e.kind for e, _ in events] == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
    (start, _), (end, noticed_at) = events
    assert abs(start.at_ms - 500) <= 40 and end.reason == "silence" and abs(end.at_ms - 1500) <= 40
    assert 1500 + 700 <= noticed_at <= 1500 + 1100
    # The fixed threshold alone hears the noise as speech: the turn would run to the maximum length.
    assert [e.kind for e, _ in feed(Endpointer(RATE, EndpointConfig(noise_margin_db=None)), pcm)] == [
        EndpointKind.SPEECH_START]


def test_a_pause_inside_speech_in_noise_does_not_end_the_turn():
    speech = tone(0.8, RATE, dbfs=-20) + silence(0.56, RATE) + tone(0.8, RATE, dbfs=-20)
    for noise_dbfs in (-30, -25):  # 10 and 5 dB under the speech
        events = [e for e, _ in feed(Endpointer(RATE), with_noise(silence(0.5, RATE) + speech + silence(3.0, RATE),
                                                                   dbfs=noise_dbfs))]
        assert [e.kind for e in events] == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
        assert abs(events[1].at_ms - 2660) <= 40


def test_noise_alone_does_not_open_an_utterance():
    config = EndpointConfig(no_speech_timeout_ms=4000)
    events = [e for e, _ in feed(Endpointer(RATE, config), with_noise(silence(5.0, RATE), dbfs=-30))]
    assert [e.kind for e in events] == [EndpointKind.NO_SPEECH]


def test_quiet_audio_behaves_as_with_the_fixed_threshold():
    speech = tone(0.8, RATE) + silence(0.56, RATE) + tone(0.8, RATE, dbfs=-35) + silence(1.5, RATE)
    fixed = EndpointConfig(noise_margin_db=None)
    for pcm in (silence(0.5, RATE) + speech, with_noise(silence(0.5, RATE) + speech, dbfs=-60)):
        following = Endpointer(RATE)
        assert feed(following, pcm) == feed(Endpointer(RATE, fixed), pcm)
        assert following.trailing_wait_ms == 700


def test_odd_chunk_sizes_give_the_same_events_as_whole_frames():
    pcm = silence(0.5, RATE) + tone(1.0, RATE) + silence(1.0, RATE)
    whole = [e for e, _ in feed(Endpointer(RATE), pcm)]
    odd = Endpointer(RATE)
    for start in range(0, len(pcm), 58):  # 29 samples: never a frame boundary
        odd.process(pcm[start : start + 58])
    assert odd.events == whole


def test_real_slow_speech_with_commas_is_one_turn(tts):
    sentence = "我想问一下，那个，我的医保卡丢了，怎么补办？"
    clip = asyncio.run(tts.synthesize(sentence, rate="slow", sample_rate=RATE))
    events = [e for e, _ in feed(Endpointer(RATE), silence(0.3, RATE) + clip.pcm16 + silence(1.0, RATE))]
    assert [e.kind for e in events] == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
    loud = (frame_levels(clip.pcm16, RATE) >= EndpointConfig().speech_threshold_dbfs).nonzero()[0]
    assert events[1].at_ms == 300 + (loud[-1] + 1) * 20


def test_barge_in_needs_sustained_speech_over_the_prompt():
    detector = BargeInDetector(RATE)
    assert not detector.process(tone(1.0, RATE, dbfs=-50))  # echo of the prompt, far below speech
    assert not detector.process(tone(0.1, RATE, dbfs=-20) + silence(0.2, RATE))  # a cough
    assert detector.process(tone(0.25, RATE, dbfs=-20))
    detector.reset()
    assert not detector.triggered
    assert not detector.process(silence(0.5, RATE))


WEBRTC = EndpointConfig(detector="webrtc", webrtc_aggressiveness=3)


def test_the_trained_detector_finds_a_slow_sentence_as_one_turn(tts):
    sentence = "我想问一下，那个，我的医保卡丢了，怎么补办？"
    clip = asyncio.run(tts.synthesize(sentence, rate="slow", sample_rate=RATE))
    events = [e for e, _ in feed(Endpointer(RATE, WEBRTC), silence(0.3, RATE) + clip.pcm16 + silence(1.0, RATE))]
    assert [e.kind for e in events] == [EndpointKind.SPEECH_START, EndpointKind.SPEECH_END]
    energy = [e for e, _ in feed(Endpointer(RATE), silence(0.3, RATE) + clip.pcm16 + silence(1.0, RATE))]
    # On clean speech both detectors put the end at the last word, give or take a frame or two.
    assert events[1].reason == "silence" and abs(events[1].at_ms - energy[1].at_ms) <= 60


def test_the_trained_detector_ends_a_turn_in_noise_that_holds_the_fixed_threshold_open(tts):
    sentence = "我的医保卡丢了，怎么补办？"
    clip = asyncio.run(tts.synthesize(sentence, rate="slow", sample_rate=RATE))
    speech = np.frombuffer(silence(0.5, RATE) + clip.pcm16 + silence(3.0, RATE), "<i2").astype(np.float64)
    # White noise 10 dB under the speech's level: a busy street on a mobile phone.
    level = 10 ** (float(np.mean(frame_levels(clip.pcm16, RATE)[frame_levels(clip.pcm16, RATE) > -50])) / 20) * 32768
    noise = np.random.default_rng(3).normal(0, level / 10 ** (10 / 20), len(speech))
    noisy = np.clip(speech + noise, -32768, 32767).astype("<i2").tobytes()
    fixed = EndpointConfig(noise_margin_db=None)
    assert EndpointKind.SPEECH_END not in [e.kind for e, _ in feed(Endpointer(RATE, fixed), noisy)]
    webrtc_fixed = EndpointConfig(detector="webrtc", webrtc_aggressiveness=3, noise_margin_db=None)
    ends = [e for e, _ in feed(Endpointer(RATE, webrtc_fixed), noisy) if e.kind is EndpointKind.SPEECH_END]
    assert ends and ends[0].reason == "silence"
    # Following the noise floor, the energy detector alone ends it too.
    ends = [e for e, _ in feed(Endpointer(RATE), noisy) if e.kind is EndpointKind.SPEECH_END]
    assert ends and ends[0].reason == "silence"
