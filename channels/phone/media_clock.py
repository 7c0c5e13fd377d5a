"""The media clock: one thread that sends every call's next 20 ms packet on time."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from channels.phone.call import FRAME_MS

if TYPE_CHECKING:
    from channels.phone.rtp import RtpStream

log = logging.getLogger(__name__)

# Falling further behind than this (an overloaded machine) restarts the clock instead of bursting.
_MAX_LAG_S = 0.2


def _raise_priority() -> None:
    """Asks the kernel to run this thread before ordinary work (as audio servers do); fine when refused."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
        log.debug("media clock runs with real-time priority")
    except (AttributeError, OSError):
        # Without CAP_SYS_NICE (an unprivileged service): ordinary scheduling, still its own thread.
        pass


class MediaClock:
    """One thread that sends every call's next 20 ms packet on time, whatever the event loop is busy with.

    Recognition, synthesis and database calls share the gateway's event loop; a pacing task there
    would send late whenever one of them holds the loop for a moment, and the caller would hear gaps.
    """

    def __init__(self) -> None:
        self._streams: set[RtpStream] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.restarts = 0

    def add(self, stream: RtpStream) -> None:
        """Starts sending for a stream (and the thread, if this is the first)."""
        with self._lock:
            self._streams.add(stream)
            if self._thread is None:
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="rtp-media-clock", daemon=True)
                self._thread.start()

    def remove(self, stream: RtpStream) -> None:
        """Stops sending for a stream; the thread ends with the last one."""
        with self._lock:
            self._streams.discard(stream)
            thread = self._thread if not self._streams else None
            if thread is not None:
                self._thread = None
                self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1)

    @property
    def running(self) -> bool:
        """True while the clock thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        _raise_priority()
        step = FRAME_MS / 1000
        next_at = time.monotonic()
        while not self._stop.is_set():
            lateness = time.monotonic() - next_at
            with self._lock:
                streams = list(self._streams)
            for stream in streams:
                stream._tick(lateness)
            next_at += step
            delay = next_at - time.monotonic()
            if delay < -_MAX_LAG_S:
                # Far behind (the machine was overloaded): start again from now rather than burst.
                self.restarts += 1
                next_at = time.monotonic()
            elif delay > 0:
                self._stop.wait(delay)

