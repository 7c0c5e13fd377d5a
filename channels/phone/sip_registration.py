"""Registration with a SIP trunk or PBX: REGISTER with digest auth, refreshed by aiosipua, redone when it lapses."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from aiosipua import Registration, RegistrationState, SipDigestAuth, SipUAC

from channels.phone.errors import RegistrationFailed, SipStartFailed

log = logging.getLogger(__name__)


class TrunkRegistration:
    """Our registration at one registrar; its address is looked up once, at start."""

    def __init__(self, registrar: tuple[str, int], *, username: str | None, password: str | None,
                 expires: int, user_agent: str) -> None:
        self.host, self.port = registrar
        self.username = username or "bianmin"
        self.password = password
        self.expires = expires
        self.user_agent = user_agent
        # The registrar's numeric address: where we register, and (with the allow-list) whom we take calls from.
        self.address: str | None = None
        self.registration: Registration | None = None
        self._registered = asyncio.Event()

    async def resolve(self) -> str:
        """The registrar's address, looked up once: a name resolved on every send would block the loop."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except OSError as err:
            raise SipStartFailed(f"SIP_REGISTRAR {self.host} cannot be resolved: {err}") from err
        address = str(infos[0][4][0])
        self.address = address
        return address

    def register(self, uac: SipUAC, contact: tuple[str, int]) -> None:
        """Sends the first REGISTER; aiosipua refreshes it before it expires."""
        if self.address is None:
            raise RegistrationFailed("the registrar's address has not been looked up (resolve() first)")
        contact_host, contact_port = contact
        auth = SipDigestAuth(self.username, self.password) if self.password else None
        self.registration = Registration(
            uac, f"sip:{self.username}@{self.host}", (self.address, self.port),
            expires=self.expires, auth=auth,
            contact_uri=f"sip:{self.username}@{contact_host}:{contact_port}", user_agent=self.user_agent,
        )
        self.registration.on_registered = lambda reg: self._registered.set()
        self.registration.on_failed = self._failed
        self.registration.on_expired = self._expired
        self.registration.register()

    def _expired(self, registration: Registration) -> None:
        self._registered.clear()
        log.warning("SIP registration expired without a refresh; registering again")
        registration.register()

    def _failed(self, registration: Registration, status: int, reason: str) -> None:
        self._registered.clear()
        hint = " (check SIP_USERNAME and SIP_PASSWORD)" if status in (401, 403, 407) else ""
        log.error("%s", RegistrationFailed(f"the registrar answered {status} {reason}{hint}"))

    async def wait(self, timeout: float) -> None:
        """Returns once the registrar accepted us; RegistrationFailed when it refused or kept silent."""
        if self.registration is None:
            raise RegistrationFailed("the registration has not started")
        try:
            async with asyncio.timeout(timeout):
                while not self._registered.is_set():
                    if self.registration.state == RegistrationState.FAILED:
                        raise RegistrationFailed("the registrar refused the registration")
                    await asyncio.sleep(0.05)
        except TimeoutError as err:
            raise RegistrationFailed(f"the registrar did not answer within {timeout:g} s") from err

    async def unregister(self, timeout: float = 2.0) -> None:
        """Withdraws the registration (REGISTER with Expires: 0) and waits briefly for the answer."""
        registration = self.registration
        if registration is None or registration.state != RegistrationState.REGISTERED:
            return
        registration.unregister()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while registration.state != RegistrationState.UNREGISTERED:
                    await asyncio.sleep(0.05)
