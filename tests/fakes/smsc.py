"""A small SMSC double: accepts SMPP binds and submit_sm on a local port and records every message.

Started by the tests themselves (`with FakeSmsc() as smsc:`), it answers as a
carrier's SMSC does (bind_transmitter_resp, submit_sm_resp with a message id,
unbind_resp), checks the account, and keeps (destination, text) pairs. A resident's
reply (`reply(phone, text)`) goes to a receiver bind as deliver_sm, as a carrier
forwards mobile-originated messages.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Self

import smpplib.smpp

SYSTEM_ID = "bianmin"
PASSWORD = "smsc-pw1"  # SMPP passwords are at most 8 characters
ESME_ROK = 0x00000000
ESME_RINVPASWD = 0x0000000E


class _Sequences:
    """What smpplib's PDUs ask of a client: the sequence numbers (answers reuse the request's)."""

    sequence = 0

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence


@dataclass(frozen=True)
class ReceivedSms:
    """One message as the SMSC received it."""

    destination: str
    text: str


class FakeSmsc:
    """An SMPP server on 127.0.0.1 that records submitted messages; `refuse=True` rejects every submit_sm."""

    def __init__(self, port: int = 0, refuse: bool = False):
        self._server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", port))
        self._server.listen(8)
        self.port = self._server.getsockname()[1]
        self.refuse = refuse
        self.messages: list[ReceivedSms] = []
        self.binds: list[tuple[str, str]] = []
        self._parts: dict[tuple[int, int], dict[int, str]] = {}
        self._lock = threading.Lock()
        self._receivers: list[socket.socket] = []
        self._connections: list[socket.socket] = []
        self.replies_acknowledged = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stops listening and drops every open bind, as an SMSC going down does."""
        try:
            # A listening socket closed while accept() waits on it keeps listening on Linux: shut it down first.
            self._server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._server.close()
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait_for(self, count: int, timeout: float = 15) -> list[ReceivedSms]:
        """The messages once `count` have arrived (the event a test waits on, not a sleep)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"the SMSC received {len(self.messages)} messages, expected {count}")

    def wait_for_to(self, destination: str, timeout: float = 30) -> ReceivedSms:
        """The newest message to one number, once one has arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [m for m in self.messages if m.destination == destination]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no text message to {destination}; received {len(self.messages)}")

    def wait_for_receiver(self, timeout: float = 15) -> None:
        """Returns once a client holds a receiver bind."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._receivers:
                    return
            time.sleep(0.05)
        raise AssertionError("no client bound as a receiver")

    def reply(self, phone: str, text: str, timeout: float = 15) -> None:
        """A resident texts `text` from `phone`: deliver_sm to the receiver bind; returns once it was acknowledged."""
        self.wait_for_receiver(timeout)
        with self._lock:
            receiver = self._receivers[-1]
            expected = self.replies_acknowledged + 1
        pdu = smpplib.smpp.make_pdu("deliver_sm", client=_Sequences(), source_addr_ton=1, source_addr_npi=1,
                                    source_addr="86" + phone, dest_addr_ton=0, dest_addr_npi=0,
                                    destination_addr="1069", esm_class=0, data_coding=0x08,
                                    short_message=text.encode("utf-16-be"))
        receiver.sendall(pdu.generate())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.replies_acknowledged >= expected:
                    return
            time.sleep(0.05)
        raise AssertionError("the receiver did not acknowledge the reply")

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(connection,), daemon=True).start()

    def _session(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.append(connection)
        try:
            with connection:
                self._converse(connection)
        finally:
            with self._lock:
                for held in (self._connections, self._receivers):
                    if connection in held:
                        held.remove(connection)

    def _converse(self, connection: socket.socket) -> None:
        while True:
            try:
                header = _read(connection, 4)
                body = _read(connection, struct.unpack(">L", header)[0] - 4) if header else None
            except OSError:
                return  # closed by __exit__
            if header is None or body is None:
                return
            pdu = smpplib.smpp.parse_pdu(header + body, client=_Sequences())
            reply = self._answer(pdu)
            if reply is not None:
                connection.sendall(reply.generate())
            if pdu.command == "bind_receiver" and reply is not None and reply.status == ESME_ROK:
                with self._lock:
                    self._receivers.append(connection)
            elif pdu.command == "deliver_sm_resp":
                with self._lock:
                    self.replies_acknowledged += 1
            if pdu.command == "unbind":
                return

    def _answer(self, pdu):
        sequence = pdu.sequence
        if pdu.command in ("bind_transmitter", "bind_transceiver", "bind_receiver"):
            system_id, password = _text(pdu.system_id), _text(pdu.password)
            self.binds.append((system_id, password))
            status = ESME_ROK if (system_id, password) == (SYSTEM_ID, PASSWORD) else ESME_RINVPASWD
            return smpplib.smpp.make_pdu(f"{pdu.command}_resp", client=_Sequences(), sequence=sequence, status=status,
                                         system_id="fake-smsc")
        if pdu.command == "submit_sm":
            if self.refuse:
                return smpplib.smpp.make_pdu("submit_sm_resp", client=_Sequences(), sequence=sequence, status=0x45,
                                             message_id="")
            self._record(pdu)
            return smpplib.smpp.make_pdu("submit_sm_resp", client=_Sequences(), sequence=sequence, status=ESME_ROK,
                                         message_id=f"m{len(self.messages)}")
        if pdu.command == "unbind":
            return smpplib.smpp.make_pdu("unbind_resp", client=_Sequences(), sequence=sequence)
        if pdu.command == "enquire_link":
            return smpplib.smpp.make_pdu("enquire_link_resp", client=_Sequences(), sequence=sequence)
        return None

    def _record(self, pdu) -> None:
        data = pdu.short_message or b""
        encoding = "utf-16-be" if pdu.data_coding == 0x08 else "latin-1"
        destination = _text(pdu.destination_addr)
        if pdu.esm_class & 0x40 and data[:1] == b"\x05":
            # A part of a concatenated message: UDH (reference, total, number) then the text.
            reference, total, number = data[3], data[4], data[5]
            parts = self._parts.setdefault((reference, total), {})
            parts[number] = data[6:].decode(encoding)
            if len(parts) < total:
                return
            text = "".join(parts[i] for i in sorted(parts))
            del self._parts[(reference, total)]
        else:
            text = data.decode(encoding)
        with self._lock:
            self.messages.append(ReceivedSms(destination, text))


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else (value or "")


def _read(connection: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
