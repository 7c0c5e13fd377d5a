"""The few WeChat server APIs the channel calls: access token, customer-service and template messages, media, menu.

The access token is one for the whole Official Account: WeChat invalidates the previous one whenever a new one is
fetched, so it is kept in the database for every replica (bot.services.channel_state.credential) and renewed
before it expires; a token WeChat refuses (40001, 42001, 40014) is dropped and fetched again once.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from starlette.concurrency import run_in_threadpool

from bot import tls
from bot.services import channel_state
from bot.settings import Settings

log = logging.getLogger(__name__)

TOKEN_REFUSED = {40001, 40014, 42001}
OUTSIDE_WINDOW = 45015  # the person has not written in the last 48 hours: only a template message may reach them
BUSY = {-1, 45009, 45047}
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
MAX_MEDIA_BYTES = 2_000_000  # a WeChat voice message is at most 60 s of AMR/Speex: tens of kilobytes


class WeChatApiError(Exception):
    """WeChat answered with an error code (or not at all: code None)."""

    def __init__(self, code: int | None, message: str):
        super().__init__(f"WeChat API error {code}: {message}")
        self.code = code
        self.message = message


class WeChatApi:
    """An async client of the WeChat server API rooted at WECHAT_API_BASE_URL."""

    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None):
        if not (settings.wechat_app_id and settings.wechat_app_secret):
            raise ValueError("WECHAT_APP_ID and WECHAT_APP_SECRET are needed to call WeChat's API")
        self.root = settings.wechat_api_base_url.rstrip("/")
        self.app_id = settings.wechat_app_id
        self._secret = settings.wechat_app_secret.get_secret_value()
        self._client = httpx.AsyncClient(timeout=TIMEOUT, transport=transport, verify=tls.client_context())
        self._credential = f"wechat_access_token:{self.app_id}"

    async def close(self) -> None:
        """Closes the connections."""
        await self._client.aclose()

    # --- the access token -------------------------------------------------------------------------------

    def _fetch_token(self) -> tuple[str, int]:
        try:
            answer = httpx.get(f"{self.root}/cgi-bin/token", timeout=TIMEOUT, params={
                "grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}).json()
        except (httpx.HTTPError, ValueError) as err:
            raise WeChatApiError(None, f"no access token: {type(err).__name__}") from err
        if "access_token" not in answer:
            raise WeChatApiError(answer.get("errcode"), str(answer.get("errmsg", "no access_token")))
        return str(answer["access_token"]), int(answer.get("expires_in", 7200))

    async def access_token(self) -> str:
        """The shared access token, fetched when none is valid."""
        return await run_in_threadpool(channel_state.credential, self._credential, self._fetch_token)

    # --- calls --------------------------------------------------------------------------------------------

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in (1, 2):
            token = await self.access_token()
            try:
                response = await self._client.request(method, f"{self.root}{path}",
                                                      params={"access_token": token, **kwargs.pop("params", {})},
                                                      **kwargs)
            except httpx.HTTPError as err:
                raise WeChatApiError(None, f"{type(err).__name__} calling {path}") from err
            if response.headers.get("content-type", "").startswith(("application/json", "text/plain")):
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                code = body.get("errcode", 0) if isinstance(body, dict) else 0
                if code in TOKEN_REFUSED and attempt == 1:
                    log.warning("WeChat refused the access token (%s); fetching a new one", code)
                    await run_in_threadpool(channel_state.drop_credential, self._credential)
                    continue
                if code:
                    raise WeChatApiError(code, str(body.get("errmsg", "")))
            elif response.status_code >= 400:
                raise WeChatApiError(None, f"HTTP {response.status_code} from {path}")
            return response
        raise WeChatApiError(None, "the access token was refused twice")

    async def send_text(self, openid: str, text: str) -> None:
        """A customer-service text message (within 48 hours of the person's last message)."""
        await self._call("POST", "/cgi-bin/message/custom/send", json={
            "touser": openid, "msgtype": "text", "text": {"content": text}})

    async def send_template(self, openid: str, template_id: str, text: str) -> None:
        """A template (subscription) message: reaches a follower outside the 48-hour window."""
        await self._call("POST", "/cgi-bin/message/template/send", json={
            "touser": openid, "template_id": template_id, "data": {"content": {"value": text}}})

    async def media(self, media_id: str) -> tuple[bytes, str]:
        """A voice message's audio (bytes, content type), at most MAX_MEDIA_BYTES."""
        response = await self._call("GET", "/cgi-bin/media/get", params={"media_id": media_id})
        if len(response.content) > MAX_MEDIA_BYTES:
            raise WeChatApiError(None, "the media file is larger than a voice message can be")
        return response.content, response.headers.get("content-type", "audio/amr").split(";")[0]

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """Replaces the account's custom menu."""
        await self._call("POST", "/cgi-bin/menu/create", json=menu)
