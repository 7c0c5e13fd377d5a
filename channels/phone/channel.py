"""The phone line inside the gateway: renders the prompts, answers SIP calls when SIP_LISTEN is set, runs the flow."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from bot.channel import Capabilities
from bot.conversation import ConversationService
from bot.privacy import redact_text
from bot.settings import Settings
from channels.phone.call import PhoneCall
from channels.phone.flow import CHANNEL, CallFlow, CallOutcome
from channels.phone.prompts import PhonePrompts
from speech.endpointing import EndpointConfig
from speech.pipeline import PipelineEvent

log = logging.getLogger(__name__)


class PhoneChannel:
    """Owns the SIP endpoint (when configured) and one call flow per connected call."""

    name = CHANNEL
    # Buttons are read aloud as numbered choices for the keypad; a staff reply is spoken during the call.
    capabilities = Capabilities(voice=True, push=True)

    def __init__(self, settings: Settings, conversations: ConversationService,
                 speech: Callable[[], Any] | Any) -> None:
        self.settings = settings
        self.conversations = conversations
        # A callable, like the Telegram channel's, so the gateway's current speech service is used.
        self._speech = speech if callable(speech) else (lambda: speech)
        self.prompts: PhonePrompts | None = None
        self.endpoint: Any = None
        self.calls: set[asyncio.Task[CallOutcome]] = set()

    async def start(self) -> None:
        """Renders the fixed prompts, then starts answering calls on SIP_LISTEN."""
        self.prompts = PhonePrompts(self._speech())
        failed = await self.prompts.warm()
        if failed:
            log.warning("phone line: %d prompts not rendered (is espeak-ng installed?); callers hear the recorded "
                        "apology and can use the keypad", len(failed))
        if not self.settings.sip_listen:
            return
        # The SIP/RTP endpoint is imported only when the line is on.
        from channels.phone import sip

        if hasattr(sip.SipEndpoint, "from_settings"):
            self.endpoint = sip.SipEndpoint.from_settings(self.settings, self.answer)
        else:
            host, _, port = self.settings.sip_listen.rpartition(":")
            self.endpoint = sip.SipEndpoint(host.strip("[]"), int(port), self.answer)
        await self.endpoint.start()
        log.info("phone line answering on %s", self.settings.sip_listen)

    def flow_for(self, call: PhoneCall) -> CallFlow:
        """The call flow for one call, with this channel's prompts and staff line."""
        if self.prompts is None:
            raise RuntimeError("the phone channel has not been started")
        return CallFlow(call, self.conversations, self.prompts, staff_uri=self.settings.phone_staff_uri,
                        endpoint=EndpointConfig(detector=self.settings.phone_vad),
                        on_event=_log_event(call.call_id))

    async def answer(self, call: PhoneCall) -> None:
        """Runs the flow of one connected call until it ends (the endpoint's on_call)."""
        task = asyncio.current_task()
        if task is not None:
            self.calls.add(task)
        try:
            await self.flow_for(call).run()
        finally:
            if task is not None:
                self.calls.discard(task)

    async def stop(self) -> None:
        """Stops answering and ends the calls in progress (each flow hangs up on its way out)."""
        if self.endpoint is not None:
            with contextlib.suppress(Exception):
                await self.endpoint.stop()
        for task in list(self.calls):
            task.cancel()
        await asyncio.gather(*self.calls, return_exceptions=True)
        self.calls.clear()


def _log_event(call_id: str) -> Callable[[PipelineEvent], None]:
    """The pipeline's event callback: each stage of a call in the debug log, personal numbers masked."""

    def log_event(event: PipelineEvent) -> None:
        if log.isEnabledFor(logging.DEBUG):
            data = {k: redact_text(v) if isinstance(v, str) else v for k, v in event.data.items()}
            log.debug("call %s %s %s %s", call_id, event.type.value, event.stage.value if event.stage else "-", data)

    return log_event
