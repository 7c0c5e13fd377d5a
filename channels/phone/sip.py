"""The SIP endpoint of the phone line: answers calls (directly or through a trunk/PBX it registers with).

Signalling is aiosipua's (parsing, dialogs, digest auth, REGISTER refresh); the RTP audio is ours
(`channels/phone/rtp.py`). Each answered call becomes a `SipPhoneCall` handed to `on_call`, which runs
the conversation; when it returns, the call is hung up and every socket and task of the call is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiosipua import (
    IncomingCall,
    Registration,
    SipRequest,
    SipResponse,
    SipUAC,
    SipUAS,
)
from aiosipua.dialog import DialogState

from bot.privacy import mask_phone
from channels.phone import aiosipua_adapter as sipua
from channels.phone.aiosipua_adapter import SipUdpTransport
from channels.phone.call import HungUp, KeyPress, PhoneCall
from channels.phone.errors import PhoneError, RegistrationFailed, SipStartFailed
from channels.phone.media_clock import MediaClock
from channels.phone.peers import PeerAllowList
from channels.phone.rtp import CallEvents, RtpStream
from channels.phone.rtp_ports import RtpPortRange
from channels.phone.sdp import answer_offer, parse_offer
from channels.phone.sip_call import SipPhoneCall
from channels.phone.sip_registration import TrunkRegistration

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

USER_AGENT = "bianmin-phone"
# RFC 3261 timer T1; a BYE or REFER without an answer is sent again after T1, 2·T1, 4·T1.
_T1 = 0.5
_REQUEST_TRIES = 4
_DTMF_INFO_TYPES = ("application/dtmf-relay", "application/dtmf")
_KEYS = set("0123456789*#ABCD")

CallHandler = Callable[[PhoneCall], Awaitable[None]]


def local_ip_toward(address: str) -> str:
    """Our own address on the route to `address` (no packet is sent): what a peer there can reach."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect((address, 9))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def sip_uri_for(target: str, domain: str) -> str:
    """A transfer target as a SIP URI: a number or extension becomes `sip:<number>@<domain>`."""
    target = target.strip()
    if target.startswith(("sip:", "sips:", "tel:")):
        return target
    return f"sip:{target}@{domain}"


@dataclass(frozen=True)
class EndpointOptions:
    """Deployment options of the endpoint (from the settings)."""

    public_address: str | None = None
    registrar: tuple[str, int] | None = None
    username: str | None = None
    password: str | None = None
    register_expires: int = 300
    # Addresses or networks (besides the registrar) whose INVITEs are taken; None: the local networks
    # when no registrar is configured, the registrar alone when one is.
    allowed_peers: tuple[str, ...] | None = None
    rtp_ports: tuple[int, int] = (10000, 10999)
    max_calls: int = 20
    # Seconds of ringing before we answer (0: at once); a caller's CANCEL in that time ends the attempt.
    answer_delay: float = 0.0
    # A call whose caller sends no RTP for this long is dead (lost BYE, crashed phone): we hang up.
    rtp_timeout: float = 60.0
    # How long a transfer waits for the far end's final report before taking silence as success.
    transfer_timeout: float = 20.0


@dataclass
class _Pending:
    """A BYE or REFER of ours waiting for its final response."""

    future: asyncio.Future[int]
    request: SipRequest
    destination: tuple[str, int]


class SipEndpoint:
    """Listens for SIP on host:port, answers calls with PCMA/PCMU and RFC 4733 keys, runs `on_call` for each."""

    def __init__(self, host: str, port: int, on_call: CallHandler, *, options: EndpointOptions | None = None) -> None:
        self.host = host
        self.port = port
        self.on_call = on_call
        self.options = options or EndpointOptions()
        self.rtp_ports = RtpPortRange(*self.options.rtp_ports)
        self.media_clock = MediaClock()
        self.calls: dict[str, SipPhoneCall] = {}  # by SIP Call-ID
        self.trunk: TrunkRegistration | None = None
        if self.options.registrar:
            self.trunk = TrunkRegistration(
                self.options.registrar, username=self.options.username, password=self.options.password,
                expires=self.options.register_expires, user_agent=USER_AGENT)
        self.peers = PeerAllowList.build(self.options.allowed_peers, None)
        self._tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[tuple[str, int], _Pending] = {}
        self._ringing: dict[str, asyncio.Task[None]] = {}
        self._transport: SipUdpTransport | None = None
        self._uas: SipUAS | None = None
        self._uac: SipUAC | None = None

    @classmethod
    def from_settings(cls, settings: Settings, on_call: CallHandler) -> SipEndpoint:
        """The endpoint configured by SIP_LISTEN, SIP_PUBLIC_ADDRESS, SIP_REGISTRAR and the other SIP_ settings."""
        if not settings.sip_listen:
            raise PhoneError("SIP_LISTEN is not set: the phone line is off", code="sip_off")
        host, _, port = settings.sip_listen.rpartition(":")
        return cls(host.strip("[]"), int(port), on_call, options=EndpointOptions(
            public_address=settings.sip_public_address,
            registrar=settings.sip_registrar_address,
            username=settings.sip_username,
            password=settings.sip_password.get_secret_value() if settings.sip_password else None,
            rtp_ports=settings.sip_rtp_port_range,
            max_calls=settings.sip_max_calls,
            allowed_peers=settings.sip_allowed_peer_list,
        ))

    # ---- life cycle ----

    async def start(self) -> None:
        """Opens the SIP port and, with a registrar configured, registers; SipStartFailed when impossible."""
        registrar_ip = await self.trunk.resolve() if self.trunk else None
        self.peers = PeerAllowList.build(self.options.allowed_peers, registrar_ip)
        transport = SipUdpTransport(local_addr=(self.host, self.port))
        try:
            await transport.start()
        except OSError as err:
            raise SipStartFailed(f"cannot listen for SIP on {self.host}:{self.port}: {err.strerror or err}") from err
        self._transport = transport
        if self.port == 0:  # an ephemeral port (tests): learn which
            self.port = transport.bound_port
            transport.local_addr = (self.host, self.port)
        self._uac = SipUAC(transport, advertised_addr=self._signalling_address(registrar_ip))
        uas = SipUAS(transport, user_agent=USER_AGENT, uac=self._uac)
        uas.on_invite = self._on_invite
        uas.on_bye = self._on_bye
        uas.on_cancel = self._on_cancel
        uas.on_reinvite = self._on_reinvite
        uas.on_update = self._on_update
        uas.on_ack_timeout = self._on_ack_timeout
        uas.on_transfer_progress = self._on_transfer_progress
        # aiosipua answers INFO with 405; keypad presses sent as SIP INFO are worth taking.
        sipua.handle_method(uas, "INFO", self._on_info)
        self._uas = uas
        # SipUAS.start() only binds the transport (already bound) and sets the message hook: ours wraps it.
        transport.on_message = self._on_message
        log.info("phone line listening for SIP on %s:%d (UDP), RTP ports %d-%d, calls taken from %s",
                 self.host, self.port, *self.options.rtp_ports, self.peers)
        if self.trunk is not None:
            self.trunk.register(self._uac, self._signalling_address(registrar_ip))

    async def stop(self) -> None:
        """Hangs up every call, unregisters, waits for the call handlers and closes every socket."""
        for task in list(self._ringing.values()):
            task.cancel()
        await asyncio.gather(*(call.hang_up() for call in list(self.calls.values())), return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        if self.trunk is not None:
            await self.trunk.unregister()
        for pending in self._pending.values():
            pending.future.cancel()
        self._pending.clear()
        if self._uas is not None:
            await self._uas.stop()
            await asyncio.sleep(0)  # the transport closes its socket on the loop's next turn
        self._transport = self._uas = self._uac = None
        log.info("phone line stopped")

    # ---- registration with a trunk or PBX ----

    @property
    def registration(self) -> Registration | None:
        """aiosipua's registration at the trunk, None without a registrar."""
        return self.trunk.registration if self.trunk else None

    def _signalling_address(self, toward: str | None) -> tuple[str, int]:
        """The address we put in Via and Contact: the public one, or ours on the route to the peer."""
        if self.options.public_address:
            return self.options.public_address, self.port
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host, self.port
        return local_ip_toward(toward or "192.0.2.1"), self.port

    async def wait_registered(self, timeout: float = 10.0) -> None:
        """Returns once the registrar accepted us; RegistrationFailed when it refused or kept silent."""
        if self.trunk is None:
            raise RegistrationFailed("no SIP_REGISTRAR is configured")
        await self.trunk.wait(timeout)

    # ---- incoming messages ----

    def _on_message(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        if not self.peers.allows(addr[0]):
            self._refuse_stranger(message, addr)
            return
        if isinstance(message, SipResponse):
            cseq = message.cseq
            pending = self._pending.get((message.call_id or "", cseq.seq if cseq else -1))
            if pending is not None and cseq is not None and cseq.method == pending.request.method:
                if message.status_code >= 200 and not pending.future.done():
                    pending.future.set_result(message.status_code)
                return
        elif message.method.upper() == "INVITE" and not self._refuse_bad_invite(message):
            return
        sipua.dispatch(self._uas, message, addr)

    def _refuse_stranger(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        """SIP from outside the allow-list: a request gets 403 (an ACK nothing), a response is ignored."""
        if self.peers.worth_logging(addr[0]):
            kind = message.method if isinstance(message, SipRequest) else f"{message.status_code} response"
            log.warning("SIP %s from %s refused: not the registrar nor in SIP_ALLOWED_PEERS", kind, addr[0])
        if isinstance(message, SipRequest) and message.method.upper() != "ACK":
            sipua.send_error(self._uas, message, 403, "Forbidden")

    def _refuse_bad_invite(self, request: SipRequest) -> bool:
        """Answers an unusable new INVITE ourselves (aiosipua would drop it unanswered); True to go on."""
        known = self._uas.get_call(request.call_id or "")
        if known is not None:
            if known.dialog.state == DialogState.CONFIRMED:
                return True  # a re-INVITE: the dialog layer checks and answers it
            if _branch(known.invite) == _branch(request):
                return False  # a retransmission of the INVITE being answered: it is answered already
            # Another INVITE with the Call-ID of a call still being set up: aiosipua would take it
            # for a new call and lose the first one (RFC 3261 §8.2.2.2, a merged request).
            log.warning("a second INVITE for a call being set up refused with 482")
            sipua.send_error(self._uas, request, 482, "Loop Detected")
            return False
        if request.content_type != "application/sdp" or not request.body:
            # No offer (it would come in the ACK): every trunk we know sends one; ask for it.
            log.warning("INVITE without an SDP offer refused with 488")
            sipua.send_error(self._uas, request, 488, "Not Acceptable Here")
            return False
        try:
            parse_offer(request.text)
        except PhoneError as err:
            log.warning("INVITE refused with 488: %s", err)
            sipua.send_error(self._uas, request, 488, "Not Acceptable Here")
            return False
        return True

    def _on_invite(self, incoming: IncomingCall) -> None:
        if len(self.calls) + len(self._ringing) >= self.options.max_calls:
            log.warning("call refused with 486: %d calls already (SIP_MAX_CALLS)", self.options.max_calls)
            self._forget(incoming)
            incoming.reject(486, "Busy Here")
            return
        task = asyncio.get_running_loop().create_task(self._answer(incoming), name=f"sip-answer-{incoming.call_id}")
        self._ringing[incoming.call_id] = task
        task.add_done_callback(lambda _: self._ringing.pop(incoming.call_id, None))

    async def _answer(self, incoming: IncomingCall) -> None:
        toward = incoming.source_addr[0]
        signalling = self._signalling_address(toward)
        incoming.advertised_addr = signalling
        try:
            offer = parse_offer(incoming.invite.text)
            rtp_host = self.host if self.host not in ("", "::") else "0.0.0.0"
            sdp_ip = self.options.public_address or signalling[0]
            events = CallEvents()
            plan = answer_offer(offer, rtp_ip=sdp_ip, rtp_port=0)  # chooses the codec before a port is taken
            stream = await self.rtp_ports.open(
                rtp_host, codec=plan.codec, payload_type=plan.payload_type,
                dtmf_payload_type=plan.dtmf_payload_type, remote=plan.remote_rtp, events=events,
                clock=self.media_clock, peer=toward)
        except PhoneError as err:
            status = 503 if err.code == "rtp_ports_exhausted" else 488
            log.warning("call refused with %d: %s", status, err)
            self._forget(incoming)
            incoming.reject(status)
            return
        try:
            plan = answer_offer(offer, rtp_ip=sdp_ip, rtp_port=stream.local_port)
            incoming.ringing()
            if self.options.answer_delay:
                await asyncio.sleep(self.options.answer_delay)
            call = SipPhoneCall(self, incoming, stream, plan)
            incoming.accept(plan.answer)
        except BaseException as err:
            # The caller cancelled while it rang, or an INVITE that parsed cannot be answered (headers
            # aiosipua reads only when it replies): either way the port goes back, never held by nobody.
            await stream.close()
            self.rtp_ports.release(stream)
            if not isinstance(err, Exception):
                raise
            log.warning("an INVITE from %s could not be answered: %s", toward, err)
            self._forget(incoming)
            return
        self.calls[incoming.call_id] = call
        stream.start()
        log.info("call %s answered (%s, RTP port %d, caller %s)", call.call_id, plan.codec, stream.local_port,
                 mask_phone(call.caller))
        task = asyncio.get_running_loop().create_task(self._run_call(call), name=f"phone-call-{call.call_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_call(self, call: SipPhoneCall) -> None:
        watchdog = asyncio.get_running_loop().create_task(self._watch_rtp(call))
        try:
            await self.on_call(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the call handler failed on call %s", call.call_id)
        finally:
            watchdog.cancel()
            await call.hang_up()
            await asyncio.gather(watchdog, return_exceptions=True)

    async def _watch_rtp(self, call: SipPhoneCall) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.options.rtp_timeout
        while call.active:
            silent_for = loop.time() - call.stream.last_received
            if silent_for >= timeout:
                log.warning("call %s: no RTP from the caller for %.0f s, hanging up", call.call_id, silent_for)
                await call.hang_up()
                return
            await asyncio.sleep(min(timeout - silent_for + 0.01, 1.0))

    def _on_bye(self, incoming: IncomingCall, request: SipRequest) -> None:
        call = self.calls.get(incoming.call_id)
        if call is not None:
            log.info("call %s: the caller hung up", call.call_id)
            self._spawn(self._end(call, "caller"))

    def _on_cancel(self, request: SipRequest, addr: tuple[str, int]) -> None:
        call_id = request.call_id or ""
        ringing = self._ringing.get(call_id)
        if ringing is not None:
            log.info("a ringing call was cancelled by the caller")
            ringing.cancel()
        call = self.calls.get(call_id)
        if call is not None:
            # CANCEL crossed our 200 OK: the caller gave up, so the call ends (RFC 3261 §9.2 lets us BYE).
            log.info("call %s: cancelled as it was answered", call.call_id)
            self._spawn(self._hang_up(call))

    def _on_ack_timeout(self, incoming: IncomingCall) -> None:
        call = self.calls.get(incoming.call_id)
        if call is not None:
            log.warning("call %s: our 200 OK was never acknowledged; call dropped", call.call_id)
            self._spawn(self._end(call, "network"))

    def _on_reinvite(self, incoming: IncomingCall) -> None:
        call = self.calls.get(incoming.call_id)
        answer = self._renegotiate(call, incoming.invite) if call else None
        if answer is None:
            resp = incoming.dialog.create_response(incoming.invite, 488, "Not Acceptable Here")
            self._transport.send_reply(resp)
            return
        incoming.accept(answer)

    def _on_update(self, incoming: IncomingCall, request: SipRequest):
        call = self.calls.get(incoming.call_id)
        return self._renegotiate(call, request) if call else None

    def _renegotiate(self, call: SipPhoneCall, request: SipRequest):
        """Our answer to a mid-call offer (hold, a moved media address); None when our codec is gone."""
        if not request.body:
            # An offerless re-INVITE (session refresh): offer what we already have.
            return call.incoming.sdp_answer
        try:
            offer = parse_offer(request.text)
            plan = answer_offer(offer, rtp_ip=call.incoming.sdp_answer.origin.address,
                                rtp_port=call.stream.local_port)
        except PhoneError as err:
            log.warning("call %s: mid-call offer refused: %s", call.call_id, err)
            return None
        if plan.codec != call.codec:
            log.warning("call %s: mid-call offer without %s refused", call.call_id, call.codec)
            return None
        call.stream.move_to(plan.remote_rtp)
        answer = plan.answer
        previous = call.incoming.sdp_answer
        answer.origin.session_id = previous.origin.session_id
        answer.origin.session_version = str(int(previous.origin.session_version) + 1)
        call.incoming.sdp_answer = answer
        return answer

    def _on_info(self, request: SipRequest, addr: tuple[str, int]) -> None:
        call = self.calls.get(request.call_id or "")
        if call is None:
            sipua.send_error(self._uas, request, 481, "Call/Transaction Does Not Exist")
            return
        if not sipua.valid_in_dialog(self._uas, call.incoming.dialog, request):
            return
        self._transport.send_reply(call.incoming.dialog.create_response(request, 200, "OK"))
        key = _info_key(request)
        if key is not None:
            call.stream.events.put(KeyPress(key))

    def _on_transfer_progress(self, call_id: str, status: int, reason: str) -> None:
        call = self.calls.get(call_id)
        if call is not None:
            log.info("call %s: transfer progress %d %s", call.call_id, status, reason)
            if status >= 200 and call.transfer_outcome is not None and not call.transfer_outcome.done():
                call.transfer_outcome.set_result(status)

    # ---- our requests ----

    async def _request(self, call: SipPhoneCall, method: str, headers: dict[str, str] | None = None) -> int | None:
        """Sends an in-dialog request, again after T1, 2·T1 … until answered; its final status or None."""
        incoming = call.incoming
        via_host, via_port = sipua.signalling_address(incoming)
        request = incoming.dialog.create_request(method, via_host=via_host, via_port=via_port)
        request.headers.set_single("Contact", f"<sip:{via_host}:{via_port}>")
        request.headers.set_single("User-Agent", USER_AGENT)
        for name, value in (headers or {}).items():
            request.headers.set_single(name, value)
        key = (incoming.call_id, request.cseq.seq)
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending[key] = _Pending(future, request, incoming.source_addr)
        try:
            wait = _T1
            for _ in range(_REQUEST_TRIES):
                if self._transport is None:
                    return None
                self._transport.send(request, incoming.source_addr)
                done, _ = await asyncio.wait({future}, timeout=wait)
                if done:
                    return future.result()
                wait *= 2
            return None
        except asyncio.CancelledError:
            if future.cancelled():
                return None
            raise
        finally:
            self._pending.pop(key, None)

    async def _transfer(self, call: SipPhoneCall, target: str) -> bool:
        """Blind transfer (RFC 5589): REFER; on success the call is the staff's and we leave it (BYE)."""
        if not call.active:
            return False
        domain = self.trunk.host if self.trunk else call.incoming.source_addr[0]
        uri = sip_uri_for(target, domain)
        call.transfers.append(uri)
        call.transfer_outcome = asyncio.get_running_loop().create_future()
        referred_by = f"<sip:{USER_AGENT}@{sipua.signalling_address(call.incoming)[0]}>"
        status = await self._request(call, "REFER", {"Refer-To": f"<{uri}>", "Referred-By": referred_by})
        if status is None or not 200 <= status < 300:
            log.warning("call %s: transfer refused (%s)", call.call_id, status or "no answer")
            return False
        # The far end reports how its new call goes in NOTIFYs. Many trunks send none after 202, so
        # silence until the timeout counts as success; only a reported failure keeps the caller with us.
        outcome = None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.options.transfer_timeout):
                outcome = await call.transfer_outcome
        if outcome is not None and outcome >= 300:
            log.warning("call %s: transfer failed at the far end (%d)", call.call_id, outcome)
            return False
        log.info("call %s: transferred (%s)", call.call_id, outcome or "accepted, no final report")
        await self._hang_up(call)
        return True

    async def _hang_up(self, call: SipPhoneCall) -> None:
        if not call.active:
            return
        await self._end(call, "us")
        if call.incoming.dialog.state == DialogState.CONFIRMED:
            sipua.stop_retransmissions(call.incoming)
            status = await self._request(call, "BYE")
            call.incoming.dialog.terminate()
            log.info("call %s: hung up by us (BYE answered %s)", call.call_id, status or "never")

    async def _end(self, call: SipPhoneCall, by: str) -> None:
        """Marks the call over, tells the call flow (HungUp) and frees its RTP port."""
        if call._ended.is_set():
            return
        call._ended.set()
        call.ended_by = by
        call.stream.events.put(HungUp())
        self._forget(call.incoming)
        if self.calls.get(call.incoming.call_id) is call:
            del self.calls[call.incoming.call_id]
        # Shielded: the RTP watchdog that hangs up a silent call is cancelled as the call handler returns,
        # and a close cut short there would hold the port (and its socket) for good.
        await asyncio.shield(self._release_media(call.stream))

    async def _release_media(self, stream: RtpStream) -> None:
        try:
            await stream.close()
        finally:
            self.rtp_ports.release(stream)

    def _forget(self, incoming: IncomingCall) -> None:
        """Drops aiosipua's record of a call we are done with (it keeps calls we end ourselves)."""
        if self._uas is not None:
            sipua.forget_call(self._uas, incoming)

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- inspection (tests, health) ----

    @property
    def state(self) -> dict[str, int]:
        """Counts of everything a call holds, all zero when no call is up."""
        return {
            "calls": len(self.calls),
            "ringing": len(self._ringing),
            "dialogs": sipua.dialog_count(self._uas) if self._uas else 0,
            "rtp_ports": len(self.rtp_ports.in_use),
            "pending_requests": len(self._pending),
            "tasks": len(self._tasks),
            "media_clock_threads": int(self.media_clock.running),
        }


def _branch(request: SipRequest) -> str | None:
    """The top Via's branch: what tells a retransmission from a new request."""
    try:
        vias = request.via
    except ValueError:
        return None
    return vias[0].branch if vias else None


def _info_key(request: SipRequest) -> str | None:
    """The key of a SIP INFO keypad press: `Signal=5` (dtmf-relay) or a bare `5` (application/dtmf)."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type not in _DTMF_INFO_TYPES:
        return None
    text = request.text.strip()
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip().lower() == "signal":
            text = value.strip()
            break
    key = text[:1].upper() if len(text) == 1 or text[1:2] in ("", "\r", "\n") else ""
    return key if key in _KEYS else None
