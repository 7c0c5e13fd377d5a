"""Text messages to a resident's phone through the carrier's SMSC, over SMPP 3.4 (the smpplib client).

One small interface, `SmsSender.send(phone, text)`, so one-time codes today and
notifications (WeChat fallbacks, reminders) later share the same adapter. The
provider is chosen by SMS_PROVIDER: `none` (no text messages: residents are
offered the other ways to prove who they are) or `smpp`. smpplib's own API is
used only in this module.
"""

from __future__ import annotations

import logging
from typing import Protocol

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.gsm

from bot.errors import BianminError, ConfigurationError
from bot.privacy import mask_phone
from bot.settings import Settings

log = logging.getLogger(__name__)

# Mainland mobile numbers are sent in international form: TON international, numbering plan E.164.
COUNTRY_CODE = "86"
CONNECT_TIMEOUT_SECONDS = 5


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
        client = smpplib.client.Client(self._host, self._port, timeout=CONNECT_TIMEOUT_SECONDS,
                                       allow_unknown_opt_params=True)
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
