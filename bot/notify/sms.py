"""Text messages to a resident's phone through the carrier's SMSC, over SMPP 3.4 (the smpplib client).

One small interface, `SmsSender.send(phone, text)`, shared by one-time codes and
notifications (reminders, status changes, staff replies). The provider is chosen
by SMS_PROVIDER: `none` (no text messages: residents are offered the other ways
to prove who they are) or `smpp`. Replies from residents (the opt-out word) come
in over a receiver bind, `SmppReceiver`. smpplib's own API is used only in this
module.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm
import smpplib.smpp

from bot.errors import BianminError, ConfigurationError
from bot.privacy import mask_phone
from bot.settings import Settings

log = logging.getLogger(__name__)

# Mainland mobile numbers are sent in international form: TON international, numbering plan E.164.
COUNTRY_CODE = "86"
CONNECT_TIMEOUT_SECONDS = 5
# smpplib logs whole PDUs (numbers and texts in hex) at debug level: its logger never goes below warnings.
SMPP_LOGGER = "smpp.bianmin"
logging.getLogger(SMPP_LOGGER).setLevel(logging.WARNING)
# A receiver bind is kept alive with enquire_link this often, and waits this long before binding again.
ENQUIRE_LINK_SECONDS = 30
REBIND_SECONDS = (1, 60)
# data_coding 8 is UCS-2 (Chinese); the others a resident's phone uses for "TD" read as Latin-1.
UCS2 = 0x08


class SmsUnavailable(BianminError):
    """No text message could be sent (no provider configured, or the SMSC refused or did not answer)."""

    code = "sms_unavailable"
    status = 503


class SmsSender(Protocol):
    """Sends one text message; raises SmsUnavailable when it cannot."""

    def send(self, phone: str, text: str) -> None: ...


class NoSms:
    """SMS_PROVIDER=none: nothing can be sent, and callers say so and offer another way."""

    def send(self, phone: str, text: str) -> None:
        """Always refuses: there is no SMS provider."""
        raise SmsUnavailable("no SMS provider is configured (SMS_PROVIDER=none)")


class SmppSender:
    """Submits each message to an SMSC over SMPP: connect, bind as transmitter, submit_sm, unbind."""

    def __init__(self, host: str, port: int, system_id: str, password: str, source_addr: str | None):
        self._host, self._port = host, port
        self._system_id, self._password = system_id, password
        self._source_addr = source_addr or ""

    def send(self, phone: str, text: str) -> None:
        """Sends `text` to the 11-digit mainland `phone`; long texts go as concatenated parts (UCS-2)."""
        # A connection per message: codes are rare, and a kept-open bind needs enquire_link upkeep.
        client = _client(self._host, self._port)
        try:
            client.connect()
            client.bind_transmitter(system_id=self._system_id, password=self._password)
            parts, encoding, esm_class = smpplib.gsm.make_parts(text)
            for part in parts:
                client.send_message(
                    source_addr_ton=smpplib.consts.SMPP_TON_ALNUM if not self._source_addr.isdigit()
                    else smpplib.consts.SMPP_TON_NWSPEC,
                    source_addr=self._source_addr,
                    dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
                    dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN,
                    destination_addr=COUNTRY_CODE + phone,
                    short_message=part, data_coding=encoding, esm_class=esm_class,
                    registered_delivery=False,
                )
                response = client.read_pdu()
                if response.is_error():
                    raise SmsUnavailable(f"the SMSC refused the message ({response.status})")
            client.unbind()
        except (TimeoutError, OSError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError) as err:
            raise SmsUnavailable(f"the SMSC at {self._host}:{self._port} did not take the message: {err}") from err
        finally:
            try:
                client.disconnect()
            except (OSError, smpplib.exceptions.ConnectionError):  # already closed by the SMSC
                pass
        log.info("text message sent to %s", mask_phone(phone))


def sms_sender(settings: Settings) -> SmsSender:
    """The sender SMS_PROVIDER names; a provider without its settings fails at start-up, saying what to set."""
    if settings.sms_provider == "none":
        return NoSms()
    if not (settings.smpp_host and settings.smpp_system_id and settings.smpp_password):
        raise ConfigurationError("SMS_PROVIDER=smpp needs SMPP_HOST, SMPP_SYSTEM_ID and SMPP_PASSWORD "
                                 "(the SMSC address and the account the carrier gave you)")
    return SmppSender(settings.smpp_host, settings.smpp_port, settings.smpp_system_id,
                      settings.smpp_password.get_secret_value(), settings.smpp_source_addr)


def _client(host: str, port: int, timeout: float = CONNECT_TIMEOUT_SECONDS) -> smpplib.client.Client:
    return smpplib.client.Client(host, port, timeout=timeout, logger_name=SMPP_LOGGER, allow_unknown_opt_params=True)


def _mobile_of(source_addr: bytes | str | None) -> str:
    """The sender's 11-digit mobile number from an SMPP address (86… or +86… or the number itself)."""
    digits = "".join(ch for ch in (source_addr.decode("ascii", "replace") if isinstance(source_addr, bytes)
                                   else source_addr or "") if ch.isdigit())
    return digits[len(COUNTRY_CODE):] if len(digits) == 13 and digits.startswith(COUNTRY_CODE) else digits


def _text_of(pdu: object) -> str:
    data = getattr(pdu, "short_message", None) or b""
    if not isinstance(data, bytes):
        return str(data)
    return data.decode("utf-16-be" if getattr(pdu, "data_coding", 0) == UCS2 else "latin-1", "replace")


Reply = Callable[[str, str], None]


class SmppReceiver:
    """Listens for residents' replies (deliver_sm) on a receiver bind, binding again whenever the SMSC drops it."""

    def __init__(self, host: str, port: int, system_id: str, password: str):
        self._host, self._port = host, port
        self._system_id, self._password = system_id, password
        self.bound = threading.Event()  # set while a bind is up (what tests wait on)

    def listen(self, on_reply: Reply, stopping: threading.Event) -> None:
        """Calls `on_reply(phone, text)` for every message a resident sends, until `stopping` is set."""
        wait = REBIND_SECONDS[0]
        while not stopping.is_set():
            try:
                self._session(on_reply, stopping)
                wait = REBIND_SECONDS[0]
            except (OSError, smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError) as err:
                log.warning("the SMSC receiver bind at %s:%s dropped (%s); binding again in %d s",
                            self._host, self._port, type(err).__name__, wait)
            finally:
                self.bound.clear()
            if stopping.wait(wait):
                return
            wait = min(REBIND_SECONDS[1], wait * 2)

    def _session(self, on_reply: Reply, stopping: threading.Event) -> None:
        client = _client(self._host, self._port, timeout=1.0)

        def received(pdu: object) -> None:
            if getattr(pdu, "command", "") != "deliver_sm" or getattr(pdu, "esm_class", 0) & 0x04:
                return  # a delivery receipt, not a resident's message
            try:
                on_reply(_mobile_of(getattr(pdu, "source_addr", None)), _text_of(pdu))
            except Exception:  # a reply that cannot be handled is still acknowledged, or the SMSC resends it forever
                log.exception("a resident's text message could not be handled")

        client.set_message_received_handler(received)
        try:
            client.connect()
            client.bind_receiver(system_id=self._system_id, password=self._password)
            self.bound.set()
            last_link = time.monotonic()
            while not stopping.is_set():
                try:
                    client.read_once(auto_send_enquire_link=False)
                except TimeoutError:
                    if time.monotonic() - last_link >= ENQUIRE_LINK_SECONDS:
                        client.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=client))
                        last_link = time.monotonic()
            client.unbind()
        finally:
            try:
                client.disconnect()
            except (OSError, smpplib.exceptions.ConnectionError):
                pass


def sms_receiver(settings: Settings) -> SmppReceiver | None:
    """The receiver of residents' replies for SMS_PROVIDER=smpp; None without a provider."""
    if settings.sms_provider != "smpp" or not (settings.smpp_host and settings.smpp_system_id
                                               and settings.smpp_password):
        return None
    return SmppReceiver(settings.smpp_host, settings.smpp_port, settings.smpp_system_id,
                        settings.smpp_password.get_secret_value())
