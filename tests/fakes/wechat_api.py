"""A local WeChat server-API double: a tiny Starlette server that records calls and answers like WeChat.

It issues access tokens, takes customer-service and template messages and menus, serves media files, and
answers with WeChat's error codes on request (40001 refused token, 45015 outside the 48-hour window, -1 busy).
Also the follower's side: signed (and, in safe mode, encrypted) XML requests as WeChat sends them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from wechatpy.crypto import WeChatCrypto

from tests.fakes.telegram_bot_api import free_port

APP_ID = "wx0123456789abcdef"
APP_SECRET = "secret-of-the-test-account"
TOKEN = "bianminTestToken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_test_account"


@dataclass
class Call:
    """One API request as the double received it."""

    path: str
    params: dict[str, str]
    body: Any
    accepted: bool


@dataclass
class Failure:
    """The next `times` calls of `path` answer `errcode` (None: HTTP 502, as an unreachable API would)."""

    path: str
    errcode: int | None
    times: int


@dataclass
class FakeWeChatApi:
    """The double; `start()` serves it on a free port of 127.0.0.1."""

    port: int = field(default_factory=free_port)
    calls: list[Call] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def root(self) -> str:
        """The value for WECHAT_API_BASE_URL."""
        return f"http://127.0.0.1:{self.port}"

    def settings(self, **extra: str) -> dict[str, str]:
        """The environment that points the channel at this double."""
        return {"WECHAT_TOKEN": TOKEN, "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
                "WECHAT_API_BASE_URL": self.root, **extra}

    def start(self) -> None:
        """Runs the server in a thread until stop()."""
        app = Starlette(routes=[
            Route("/cgi-bin/token", self._token, methods=["GET"]),
            Route("/cgi-bin/message/custom/send", self._json_call, methods=["POST"]),
            Route("/cgi-bin/message/template/send", self._json_call, methods=["POST"]),
            Route("/cgi-bin/menu/create", self._json_call, methods=["POST"]),
            Route("/cgi-bin/media/get", self._media, methods=["GET"]),
        ])
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                     lifespan="off"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the WeChat API double did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stops the server."""
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)

    def fail(self, path: str, errcode: int | None, times: int = 1) -> None:
        """Makes the next `times` calls of `path` fail with WeChat's `errcode`."""
        with self._lock:
            self.failures.append(Failure(path, errcode, times))

    def expire_tokens(self) -> None:
        """Every token issued so far becomes invalid (WeChat answers 42001), as when it expires early."""
        with self._lock:
            self.valid_tokens.clear()

    def called(self, path: str) -> list[Call]:
        """The calls of one API, accepted and refused, in order."""
        return [c for c in list(self.calls) if c.path == path]

    def sent_texts(self, openid: str | None = None) -> list[str]:
        """Texts of accepted customer-service messages."""
        return [c.body["text"]["content"] for c in self.called("/cgi-bin/message/custom/send")
                if c.accepted and (openid is None or c.body["touser"] == openid)]

    def wait_for_texts(self, openid: str, count: int, timeout: float = 30.0) -> list[str]:
        """Waits until `count` customer-service texts reached `openid`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.sent_texts(openid)
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{len(self.sent_texts(openid))} of {count} messages reached {openid}: "
                             f"{self.sent_texts(openid)}")

    # --- the server ------------------------------------------------------------------------------------------

    def _failure_for(self, path: str) -> Failure | None:
        with self._lock:
            for failure in self.failures:
                if failure.path == path and failure.times > 0:
                    failure.times -= 1
                    return failure
        return None

    async def _token(self, request: Request) -> Response:
        params = dict(request.query_params)
        if params.get("appid") != APP_ID or params.get("secret") != APP_SECRET:
            return JSONResponse({"errcode": 40013, "errmsg": "invalid appid"})
        with self._lock:
            self.tokens_issued += 1
            token = f"ACCESS_TOKEN_{self.tokens_issued}"
            self.valid_tokens.add(token)
        return JSONResponse({"access_token": token, "expires_in": 7200})

    async def _json_call(self, request: Request) -> Response:
        path, params = request.url.path, dict(request.query_params)
        try:
            body = await request.json()
        except ValueError:
            body = None
        refusal = self._refusal(path, params)
        self.calls.append(Call(path, params, body, accepted=refusal is None))
        return refusal or JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _media(self, request: Request) -> Response:
        path, params = request.url.path, dict(request.query_params)
        refusal = self._refusal(path, params)
        self.calls.append(Call(path, params, None, accepted=refusal is None))
        if refusal is not None:
            return refusal
        found = self.media.get(params.get("media_id", ""))
        if found is None:
            return JSONResponse({"errcode": 40007, "errmsg": "invalid media_id"})
        data, content_type = found
        return Response(data, media_type=content_type)

    def _refusal(self, path: str, params: dict[str, str]) -> Response | None:
        if params.get("access_token") not in self.valid_tokens:
            code = 42001 if params.get("access_token", "").startswith("ACCESS_TOKEN_") else 40001
            return JSONResponse({"errcode": code, "errmsg": "access_token expired or invalid"})
        failure = self._failure_for(path)
        if failure is None:
            return None
        if failure.errcode is None:
            return Response("bad gateway", status_code=502)
        return JSONResponse({"errcode": failure.errcode, "errmsg": "refused by the double"})


# --- the follower's side: what WeChat sends to POST /wechat ------------------------------------------------------

def signed_query(token: str = TOKEN, timestamp: str | None = None, nonce: str = "nonce123") -> dict[str, str]:
    """The query WeChat adds to every request: signature, timestamp, nonce."""
    timestamp = timestamp or str(int(time.time()))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


_message_ids = iter(range(7_000_000_000_000_000, 8_000_000_000_000_000))


def text_xml(openid: str, text: str, msg_id: int | None = None) -> str:
    """A follower's text message."""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id or next(_message_ids)}</MsgId></xml>")


def voice_xml(openid: str, media_id: str, recognition: str | None = None) -> str:
    """A follower's voice message (with WeChat's own transcript when the account has it switched on)."""
    heard = f"<Recognition><![CDATA[{recognition}]]></Recognition>" if recognition is not None else ""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            f"<MediaId><![CDATA[{media_id}]]></MediaId><Format><![CDATA[amr]]></Format>{heard}"
            f"<MsgId>{next(_message_ids)}</MsgId></xml>")


def event_xml(openid: str, event: str, key: str = "") -> str:
    """A follow, unfollow or menu click."""
    return (f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time() * 1000)}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            f"<Event><![CDATA[{event}]]></Event><EventKey><![CDATA[{key}]]></EventKey></xml>")


def encrypted(xml: str, nonce: str = "nonce123") -> tuple[str, dict[str, str]]:
    """A request in safe mode: the encrypted body and the query with msg_signature."""
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    timestamp = str(int(time.time()))
    envelope = crypto.encrypt_message(xml, nonce, timestamp)
    import xmltodict

    fields = xmltodict.parse(envelope)["xml"]
    body = f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{fields['Encrypt']}]]></Encrypt></xml>"
    return body, {**signed_query(timestamp=timestamp, nonce=nonce), "encrypt_type": "aes",
                  "msg_signature": fields["MsgSignature"]}


def decrypted_reply(envelope: str, query: dict[str, str]) -> str:
    """The plain XML of an encrypted passive reply."""
    import xmltodict

    fields = xmltodict.parse(envelope)["xml"]
    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    return crypto.decrypt_message(envelope, fields["MsgSignature"], fields["TimeStamp"], fields["Nonce"])
