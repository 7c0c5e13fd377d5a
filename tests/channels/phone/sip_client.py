"""A real SIP phone for the tests: Debian's baresip, run headless and driven through its control sockets.

baresip places the call, sends what a WAV file holds as the caller's voice (`aufile`), presses keys as
RFC 4733 events (its console), and records what it hears (`sndfile` writes the decoded audio to a WAV
when the call ends). Its JSON control socket (`ctrl_tcp`) reports the call's progress as events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RATE = 8000
BARESIP_MODULES = Path("/usr/lib/baresip/modules")


def baresip_available() -> bool:
    """True when the baresip program and its modules are installed."""
    return shutil.which("baresip") is not None and (BARESIP_MODULES / "aufile.so").exists()


def write_wav(path: Path, pcm16: bytes, rate: int = RATE) -> Path:
    """A mono 16-bit WAV file."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16)
    return path


def read_wav(path: Path) -> np.ndarray:
    """The samples of a mono 16-bit WAV file (what baresip recorded)."""
    with wave.open(str(path), "rb") as src:
        return np.frombuffer(src.readframes(src.getnframes()), "<i2")


def silence(seconds: float, rate: int = RATE) -> bytes:
    """PCM16 zeros."""
    return b"\0\0" * int(rate * seconds)


def tone(seconds: float, freq: float = 1000.0, rate: int = RATE, amplitude: int = 8000) -> bytes:
    """A sine tone as PCM16."""
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def loud_spans(samples: np.ndarray, *, rate: int = RATE, frame_ms: int = 20, threshold: float = 300.0,
               min_gap_s: float = 0.3) -> list[tuple[float, float]]:
    """(start, end) seconds of the non-silent stretches, gaps shorter than min_gap_s bridged."""
    n = rate * frame_ms // 1000
    frames = samples[: len(samples) // n * n].astype(np.float64).reshape(-1, n)
    loud = np.sqrt((frames ** 2).mean(axis=1)) > threshold
    spans: list[tuple[float, float]] = []
    for index in np.nonzero(loud)[0]:
        start, end = index * frame_ms / 1000, (index + 1) * frame_ms / 1000
        if spans and start - spans[-1][1] < min_gap_s:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


def dominant_frequency(samples: np.ndarray, rate: int = RATE) -> float:
    """The strongest frequency of a stretch of audio, in Hz."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@dataclass
class PortBlock:
    """Ten consecutive ports of the test's range for one baresip: SIP (+TLS), console, control, RTP."""

    base: int

    @property
    def sip(self) -> int:
        return self.base

    @property
    def console(self) -> int:
        return self.base + 2  # base+1 is baresip's SIP-over-TLS listener

    @property
    def control(self) -> int:
        return self.base + 3

    @property
    def rtp(self) -> tuple[int, int]:
        return self.base + 4, self.base + 9


@dataclass
class Baresip:
    """One headless baresip phone; `async with` starts and stops it."""

    workdir: Path
    ports: PortBlock
    codecs: str = "PCMA,PCMU"
    user: str = "13800138000"
    events: list[dict] = field(default_factory=list)
    _process: asyncio.subprocess.Process | None = None
    _reader: asyncio.StreamReader | None = None
    _writer: asyncio.StreamWriter | None = None
    _pump: asyncio.Task | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __aenter__(self) -> Baresip:
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    @property
    def recordings(self) -> Path:
        return self.workdir / "recordings"

    def _write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.recordings.mkdir(exist_ok=True)
        quiet = write_wav(self.workdir / "quiet.wav", silence(120))
        low, high = self.ports.rtp
        (self.workdir / "config").write_text(f"""\
poll_method epoll
sip_listen 127.0.0.1:{self.ports.sip}
call_local_timeout 30
call_max_calls 4
audio_player aubridge,nil
audio_alert aubridge,nil
audio_source aufile,{quiet}
rtp_ports {low}-{high}
jitter_buffer_delay 1-3
module_path {BARESIP_MODULES}
module g711.so
module aufile.so
module aubridge.so
module sndfile.so
module cons.so
module_tmp account.so
module_app menu.so
module_app ctrl_tcp.so
cons_listen 127.0.0.1:{self.ports.console}
ctrl_tcp_listen 127.0.0.1:{self.ports.control}
snd_path {self.recordings}
""")
        # answermode=auto: a REFER's new call or a call to this phone is answered without a person.
        (self.workdir / "accounts").write_text(
            f"<sip:{self.user}@127.0.0.1>;regint=0;answermode=auto;audio_codecs={self.codecs.lower()}\n")
        (self.workdir / "contacts").write_text("")

    async def start(self) -> None:
        """Starts baresip and connects to its control socket."""
        self._write_config()
        with open(self.workdir / "baresip.log", "wb") as log:  # baresip keeps its own copy of the file
            self._process = await asyncio.create_subprocess_exec(
                "baresip", "-f", str(self.workdir), "-n", "127.0.0.1",
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=asyncio.subprocess.STDOUT)
        for _ in range(100):
            try:
                self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.ports.control)
                break
            except OSError:
                if self._process.returncode is not None:
                    raise RuntimeError(f"baresip exited: {self.log()[-2000:]}") from None
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"baresip's control socket did not open: {self.log()[-2000:]}")
        self._pump = asyncio.get_running_loop().create_task(self._read_events())

    def log(self) -> str:
        """What baresip printed."""
        path = self.workdir / "baresip.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def _read_events(self) -> None:
        # ctrl_tcp frames each JSON message as a netstring: <length>:<json>,
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                length = int((await self._reader.readuntil(b":"))[:-1])
                body = await self._reader.readexactly(length + 1)
                self.events.append(json.loads(body[:-1]))
                self._changed.set()

    async def command(self, name: str, params: str = "") -> None:
        """Runs one baresip command (dial, hangup, ausrc …) through the control socket."""
        body = json.dumps({"command": name, "params": params, "token": name}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()

    def event_types(self) -> list[str]:
        """The call events seen so far, in order."""
        return [e["type"] for e in self.events if e.get("event")]

    async def wait_event(self, kind: str, timeout: float = 10.0, count: int = 1) -> dict:
        """The count-th event of a kind (CALL_ESTABLISHED, CALL_CLOSED, CALL_TRANSFER …)."""
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events if e.get("event") and e.get("type") == kind]
                if len(found) >= count:
                    return found[count - 1]
                self._changed.clear()
                await self._changed.wait()

    async def dial(self, uri: str, timeout: float = 10.0) -> dict:
        """Calls `uri` and waits until the call is answered."""
        await self.command("dial", uri)
        return await self.wait_event("CALL_ESTABLISHED", timeout)

    async def press(self, keys: str, gap: float = 0.25) -> None:
        """Presses keypad keys (sent as RFC 4733 events), one every `gap` seconds."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                           remote_addr=("127.0.0.1", self.ports.console))
        try:
            for key in keys:
                transport.sendto(key.encode())
                await asyncio.sleep(gap)
        finally:
            transport.close()

    async def say(self, pcm16: bytes, name: str = "say", tail_seconds: float = 120) -> None:
        """Speaks 8 kHz PCM16 into the call now, then silence (baresip ends a call when its file ends)."""
        path = write_wav(self.workdir / f"{name}.wav", pcm16 + silence(tail_seconds))
        await self.command("ausrc", f"aufile,{path}")

    async def hang_up(self, timeout: float = 10.0) -> None:
        """Ends the call from the caller's side and waits until baresip has closed it."""
        closed = len([e for e in self.events if e.get("type") == "CALL_CLOSED"])
        await self.command("hangup")
        await self.wait_event("CALL_CLOSED", timeout, count=closed + 1)

    def heard(self, call_index: int = -1) -> np.ndarray:
        """What the phone heard on a closed call (8 kHz samples), from baresip's decoder dump."""
        dumps = sorted(self.recordings.glob("dump-*-dec.wav"))
        if not dumps:
            raise AssertionError(f"baresip recorded nothing; log:\n{self.log()[-3000:]}")
        return read_wav(dumps[call_index])

    def said(self, call_index: int = -1) -> np.ndarray:
        """What the phone sent on a closed call (8 kHz samples), from baresip's encoder dump."""
        return read_wav(sorted(self.recordings.glob("dump-*-enc.wav"))[call_index])

    async def stop(self) -> None:
        """Quits baresip (killing it if it does not go) and closes the control connection."""
        if self._process is None:
            return
        if self._process.returncode is None:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.command("quit")
            try:
                await asyncio.wait_for(self._process.wait(), 3)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
        if self._writer is not None:
            self._writer.close()
        self._process = None


SIPP_SCENARIOS = Path(__file__).parent / "sipp"


def sipp_available() -> bool:
    """True when SIPp (Debian's sip-tester) is installed."""
    return shutil.which("sipp") is not None


async def run_sipp(scenario: str, *, port: int, media_port: int, remote: str | None = None,
                   workdir: Path, timeout: float = 20.0, calls: int = 1) -> tuple[int, str]:
    """Runs one SIPp scenario from tests/channels/phone/sipp/ to its end; (exit status, its error log)."""
    args = ["sipp", "-sf", str(SIPP_SCENARIOS / scenario), "-i", "127.0.0.1", "-p", str(port),
            "-mp", str(media_port), "-m", str(calls), "-timeout", f"{int(timeout)}s", "-timeout_error",
            "-trace_err", "-error_file", str(workdir / f"{scenario}.errors"), "-nostdin"]
    if remote:
        args += ["-s", "service", remote]
    process = await asyncio.create_subprocess_exec(*args, cwd=workdir, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.DEVNULL,
                                                   stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(process.communicate(), timeout + 5)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    errors = workdir / f"{scenario}.errors"
    return process.returncode, err.decode(errors="replace") + (errors.read_text() if errors.exists() else "")
