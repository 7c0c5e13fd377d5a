"""The gateway's handwriting recogniser: loaded once in the background at start, used from worker threads."""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

from starlette.concurrency import run_in_threadpool

from bot.errors import BianminError
from kiosk.handwriting import model
from kiosk.handwriting.recogniser import Recogniser

log = logging.getLogger(__name__)
# How long a request waits for a model that is still loading before it is told to try again.
READY_WAIT_SECONDS = 10.0


class HandwritingUnavailable(BianminError):
    """The model is still being built or could not be loaded."""

    code = "handwriting_unavailable"
    status = 503


class HandwritingService:
    """One recogniser per gateway; `start` loads (or, the first time, builds) its model off the event loop."""

    def __init__(self, load: Callable[[], model.Model] | None = None):
        # In the gateway a missing model is built in this thread alone: no worker processes to outlive it.
        self._load = load or functools.partial(model.ensure, workers=1)
        self._ready: Future[Recogniser] = Future()
        self._started = False

    def start(self) -> None:
        """Begins loading in a thread, so the gateway starts serving chat at once."""
        if self._started:
            return
        self._started = True
        threading.Thread(target=self._warm, name="handwriting-model", daemon=True).start()

    def _warm(self) -> None:
        try:
            self._ready.set_result(Recogniser(self._load()))
            log.info("handwriting recognition is ready")
        except Exception as err:
            log.exception("handwriting recognition is off")
            self._ready.set_exception(err)

    async def recognise(self, strokes: Sequence[Sequence[Sequence[float]]]) -> list[str]:
        """The candidates for one character, computed in a worker thread; 503 while the model is not there."""
        self.start()
        try:
            recogniser = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self._ready)), READY_WAIT_SECONDS)
        except TimeoutError as err:
            raise HandwritingUnavailable("手写识别正在准备，请稍后再试。") from err
        except Exception as err:
            raise HandwritingUnavailable("手写识别暂时不能用，请用打字或说话。") from err
        return await run_in_threadpool(recogniser.recognise, strokes)
