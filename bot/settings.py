"""The one typed settings object, read from the environment, `.env` and an optional YAML file.

Everything configurable lives here and is validated once at start-up, so a bad
value stops the process with a message that says how to fix it instead of
failing in the middle of a resident's conversation.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.errors import ConfigurationError

REPO_ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = REPO_ROOT / "var"

# Values that are fine on a developer's machine and must never reach production.
DEVELOPMENT_PLACEHOLDERS = {"change-me", "dev-rasa-token", "dev-session-secret", "dev-field-key"}
# Where `make run` keeps the key it creates on a developer's first start when none is configured.
DEVELOPMENT_KEY_FILE = VAR_DIR / "field-encryption.key"


class YamlSource(PydanticBaseSettingsSource):
    """Deployment options from the YAML file named by BIANMIN_CONFIG (environment variables win)."""

    def __init__(self, settings_cls: type[BaseSettings]):
        super().__init__(settings_cls)
        path = os.environ.get("BIANMIN_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            try:
                self._data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as err:
                raise ConfigurationError(f"BIANMIN_CONFIG={path} cannot be read: {err}") from err

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {key: value for key, value in self._data.items() if key in self.settings_cls.model_fields}


class Settings(BaseSettings):
    """All settings of the assistant; names match the environment variables (case-insensitive)."""

    model_config = SettingsConfigDict(env_file=REPO_ROOT / ".env", env_file_encoding="utf-8", extra="ignore")

    environment: Literal["development", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    database_url: str = f"sqlite:///{VAR_DIR / 'bianmin.db'}"

    gateway_host: str = "127.0.0.1"
    gateway_port: int = Field(8000, ge=1, le=65535)
    rasa_host: str = "127.0.0.1"
    rasa_port: int = Field(5005, ge=1, le=65535)
    rasa_workers: int = Field(1, ge=1, le=16, description="Rasa processes; conversations stick to one by id")
    rasa_token: str = "dev-rasa-token"
    rasa_model_dir: Path = REPO_ROOT / "models"
    action_host: str = "127.0.0.1"
    action_port: int = Field(5055, ge=1, le=65535)
    lock_store: Literal["memory", "redis"] = "memory"
    cluster_port: int = Field(8080, ge=1, le=65534, description="`make cluster`: the balancer's port "
                                                                 "(the next one serves its health page inside)")
    cluster_replicas: int = Field(2, ge=1, le=8, description="`make cluster`: replicas of the gateway, "
                                                              "the Rasa server and the action server each")
    redis_url: str = "redis://127.0.0.1:6379/0"
    gateway_replicas: int = Field(1, ge=1, le=64, description="gateways serving the same conversations behind a "
                                                               "balancer; above 1 a gateway reads each pending "
                                                               "question from the engine instead of its memory")

    api_docs: bool = Field(False, description="serve /docs and /openapi.json (off: the API's shape is not advertised)")
    cors_origins: list[str] = Field(default_factory=list, description="sites that embed the widget, e.g. https://www.example.gov.cn")
    chat_timeout_seconds: float = Field(8.0, gt=0, le=60)
    max_text_length: int = Field(2000, ge=10, le=20000)

    field_encryption_key: SecretStr | None = Field(
        None, description="the key encrypting personal fields; or FIELD_ENCRYPTION_KEY_FILE")
    field_encryption_key_file: Path | None = Field(
        None, description="a file (mode 0600) whose first line is the key and further lines older keys")
    field_encryption_old_keys: SecretStr | None = Field(
        None, description="comma-separated former keys, still read during a rotation")
    staff_session_minutes: int = Field(480, ge=5)
    staff_idle_minutes: int = Field(30, ge=1, description="a console login unused this long ends")

    retention_conversation_days: int = Field(180, ge=1, description="a conversation quiet this long is deleted")
    retention_draft_days: int = Field(30, ge=1, description="an unfinished application untouched this long is deleted")
    retention_audit_days: int = Field(1095, ge=30, description="audit entries older than this are deleted")
    retention_run_hours: float = Field(24, gt=0, description="how often the supervisor runs the clean-up")

    knowledge_base_dir: Path = REPO_ROOT / "knowledge_base"
    domain_dir: Path = REPO_ROOT / "dialogues" / "domain"
    # Sentences only custom actions say: outside the domain, so they are not training data (bot/texts.py).
    texts_dir: Path = REPO_ROOT / "dialogues" / "texts"

    handoff_accept_timeout_seconds: int = Field(300, ge=10)
    # The analytics: a handoff accepted within this wait counts towards the response rate (响应率);
    # a draft untouched this long counts as an application people gave up on.
    handoff_target_wait_seconds: int = Field(60, ge=1, le=86400)
    abandoned_draft_hours: float = Field(24.0, gt=0, le=720)

    push_poll_seconds: float = Field(
        1.0, gt=0, le=60, description="how often a gateway looks for staff replies, reminders and status changes to "
                                      "send to its Telegram and WeChat conversations")

    telegram_bot_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_mode: Literal["polling", "webhook"] = "polling"
    telegram_webhook_secret: str | None = None
    telegram_poll_lease_seconds: float = Field(
        15.0, ge=2, le=300, description="with LOCK_STORE=redis, one gateway polls Telegram under a Redis lease of "
                                        "this length; another takes over this long after the poller dies")

    wechat_token: str | None = Field(None, description="the Token of the Official Account's server settings; turns WeChat on")
    wechat_app_id: str | None = None
    wechat_app_secret: SecretStr | None = None
    wechat_encoding_aes_key: SecretStr | None = Field(None, description="EncodingAESKey (43 characters): safe mode")
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_template_id: str | None = Field(None, description="a template message for pushes outside the 48-hour window")

    sip_listen: str | None = None
    sip_public_address: str | None = Field(None, description="the address callers and the trunk reach us at (NAT)")
    sip_registrar: str | None = Field(None, description="host[:port] of the SIP trunk or PBX to register with")
    sip_username: str | None = None
    sip_password: SecretStr | None = None
    sip_rtp_ports: str = Field("10000-10999", description="UDP ports for call audio, low-high; open them in the firewall")
    sip_max_calls: int = Field(20, ge=1, le=500)
    sip_allowed_peers: str | None = Field(
        None, description="IP addresses or networks (comma-separated) whose calls are taken besides the registrar's; "
                          "unset: the registrar alone, or the local networks when no registrar is set")
    vosk_model_path: Path | None = None
    speech_cache_dir: Path = VAR_DIR / "speech-cache"
    speech_max_decodes: int = Field(4, ge=1, le=64, description="ffmpeg decodes of uploaded audio at once; "
                                                                 "beyond, a 503 with Retry-After")
    speech_max_recognitions: int = Field(8, ge=1, le=256, description="uploads decoded or recognised at once; "
                                                                       "beyond, a 503 with Retry-After")
    run_dir: Path = VAR_DIR / "run"

    sms_provider: Literal["none", "smpp"] = Field(
        "none", description="how one-time codes reach a resident's phone: smpp (the carrier's SMSC) or none")
    smpp_host: str | None = None
    smpp_port: int = Field(2775, ge=1, le=65535)
    smpp_system_id: str | None = None
    smpp_password: SecretStr | None = None
    smpp_source_addr: str | None = Field(None, description="the sender number or name the carrier assigned")
    sms_resend_seconds: int = Field(60, ge=10, le=3600, description="a new code for the same conversation at most this often")
    sms_notify_channels: list[str] = Field(
        default_factory=lambda: ["phone", "kiosk"],
        description="conversations on these channels (none of them can push) get reminders, status changes and "
                    "staff replies by SMS, as JSON: [\"phone\", \"kiosk\"]")
    sms_staff_reply_grace_seconds: int = Field(
        120, ge=0, le=86400, description="a staff reply goes by SMS only if the person has not read it this long")
    sms_max_attempts: int = Field(8, ge=1, le=50, description="tries of one notification before it is shown as failed")
    sms_poll_seconds: float = Field(5.0, gt=0, le=600, description="how often the supervisor sends waiting notifications")

    # Quotas in the `limits` notation (bot/ratelimit.py); a real resident never reaches them.
    rate_limit_storage: Literal["memory", "redis"] = "memory"
    rate_limit_chat_per_conversation: str = "30/minute;300/hour"
    rate_limit_chat_per_client: str = "600/minute"
    rate_limit_new_conversations_per_client: str = "30/minute;1000/day"
    rate_limit_speech_per_client: str = "60/minute"
    # The kiosk asks once per lifted finger: a 12-stroke character is 12 requests.
    rate_limit_handwriting_per_client: str = "600/minute"
    rate_limit_handoffs_per_conversation: str = "5/day"
    rate_limit_callbacks_per_conversation: str = "3/day"
    rate_limit_callbacks_per_phone: str = "3/day"
    rate_limit_bookings_per_conversation: str = "5/day"
    rate_limit_bookings_per_phone: str = "3/day"

    phone_vad: Literal["energy", "webrtc"] = Field(
        "energy", description="what tells a caller's speech from noise: frame energy, or energy and WebRTC's "
                              "trained detector (ends more turns on noisy lines; benchmarks/speech.py --vad)")
    phone_staff_uri: str | None = Field(
        None, description="where a phone caller asking for a person is transferred while staff are on duty, "
                          "e.g. sip:staff@pbx.example.gov.cn or an extension; unset: the queue and a call-back")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, dotenv_settings, YamlSource(settings_cls), file_secret_settings

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("DATABASE_URL must start with sqlite:/// or postgresql:// (e.g. postgresql://user@127.0.0.1:5432/bianmin)")
        return value

    @field_validator(
        "rate_limit_chat_per_conversation", "rate_limit_chat_per_client", "rate_limit_new_conversations_per_client",
        "rate_limit_speech_per_client", "rate_limit_handwriting_per_client", "rate_limit_handoffs_per_conversation",
        "rate_limit_callbacks_per_conversation", "rate_limit_callbacks_per_phone",
        "rate_limit_bookings_per_conversation", "rate_limit_bookings_per_phone",
    )
    @classmethod
    def _quota(cls, value: str) -> str:
        from bot.ratelimit import parse_quota

        parse_quota(value)
        return value

    @field_validator("phone_staff_uri")
    @classmethod
    def _dialable(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        if value and (any(c.isspace() for c in value) or not re.fullmatch(r"(sips?:|tel:)?[\w.+\-@:;=#*]+", value)):
            raise ValueError("PHONE_STAFF_URI must be a SIP URI or a number, e.g. sip:staff@pbx.example.gov.cn or 8001")
        return value or None

    @field_validator("sip_listen")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError("SIP_LISTEN must be host:port, e.g. 0.0.0.0:5060")
        return value or None

    @field_validator("sip_public_address")
    @classmethod
    def _bare_address(cls, value: str | None) -> str | None:
        # One colon is host:port (not wanted here); IPv6 addresses have several.
        if value and (value.count(":") == 1 or any(ch in value for ch in " /@;")):
            raise ValueError("SIP_PUBLIC_ADDRESS must be an IP address or host name without port, e.g. 203.0.113.10")
        return value.strip("[]") if value else None

    @field_validator("sip_registrar")
    @classmethod
    def _registrar(cls, value: str | None) -> str | None:
        if value:
            value = value.strip().removeprefix("sip:")
            host, sep, port = value.rpartition(":")
            if (sep and not port.isdigit()) or (sep and not host) or not value or " " in value:
                raise ValueError("SIP_REGISTRAR must be host or host:port, e.g. sip.example-trunk.cn:5060")
        return value or None

    @field_validator("sip_allowed_peers")
    @classmethod
    def _peer_networks(cls, value: str | None) -> str | None:
        if value and value.strip():
            for entry in filter(str.strip, value.split(",")):
                try:
                    ipaddress.ip_network(entry.strip().strip("[]"), strict=False)
                except ValueError as err:
                    raise ValueError(f"SIP_ALLOWED_PEERS: {entry.strip()!r} is not an IP address or network "
                                     "(e.g. 203.0.113.5 or 203.0.113.0/24); host names are not taken") from err
        return value.strip() if value and value.strip() else None

    @field_validator("sip_rtp_ports")
    @classmethod
    def _port_range(cls, value: str) -> str:
        low, sep, high = value.partition("-")
        if not sep or not low.strip().isdigit() or not high.strip().isdigit() or not (
            1024 <= int(low) < int(high) <= 65535
        ):
            raise ValueError("SIP_RTP_PORTS must be low-high within 1024-65535 with at least two ports, e.g. 10000-10999")
        return f"{int(low)}-{int(high)}"

    @model_validator(mode="after")
    def _wechat_complete(self) -> Settings:
        if not self.wechat_token:
            return self
        if not re.fullmatch(r"[A-Za-z0-9]{3,32}", self.wechat_token):
            raise ValueError("WECHAT_TOKEN must be 3-32 letters or digits, as the Official Account's settings require")
        if bool(self.wechat_app_id) != bool(self.wechat_app_secret):
            raise ValueError("set both WECHAT_APP_ID and WECHAT_APP_SECRET (from the Official Account's 基本配置)")
        key = self.wechat_encoding_aes_key.get_secret_value() if self.wechat_encoding_aes_key else ""
        if key and (not self.wechat_app_id or not re.fullmatch(r"[A-Za-z0-9]{43}", key)):
            raise ValueError("WECHAT_ENCODING_AES_KEY must be the 43-character EncodingAESKey, with WECHAT_APP_ID set")
        return self

    @model_validator(mode="after")
    def _registration_complete(self) -> Settings:
        if self.sip_registrar and not self.sip_username:
            raise ValueError("SIP_REGISTRAR is set but SIP_USERNAME is not: set the account name the trunk gave you")
        if self.sip_password and not self.sip_registrar:
            raise ValueError("SIP_PASSWORD is set but SIP_REGISTRAR is not: set the trunk or PBX to register with")
        return self

    @model_validator(mode="after")
    def _sms_provider_complete(self) -> Settings:
        if self.sms_provider == "smpp" and not (self.smpp_host and self.smpp_system_id and self.smpp_password):
            raise ValueError("SMS_PROVIDER=smpp needs SMPP_HOST, SMPP_SYSTEM_ID and SMPP_PASSWORD: "
                             "the SMSC address and the account the carrier gave you")
        return self

    @model_validator(mode="after")
    def _a_key_that_is_not_in_the_repository(self) -> Settings:
        key = self.field_encryption_key.get_secret_value() if self.field_encryption_key else None
        if key is not None and (not key.strip() or key in DEVELOPMENT_PLACEHOLDERS):
            raise ValueError("FIELD_ENCRYPTION_KEY is empty or a published placeholder; create a key with "
                             "`python -c 'from bot.privacy import generate_key; print(generate_key())'`")
        if self.environment == "production" and key is None and self.field_encryption_key_file is None:
            raise ValueError("FIELD_ENCRYPTION_KEY or FIELD_ENCRYPTION_KEY_FILE is required in production: "
                             "the key that encrypts residents' personal fields (`make rotate-keys` writes a key file)")
        if self.field_encryption_key_file is not None and key is None and not self.field_encryption_key_file.is_file():
            raise ValueError(f"FIELD_ENCRYPTION_KEY_FILE={self.field_encryption_key_file} does not exist")
        return self

    @property
    def key_file(self) -> Path | None:
        """The key file in use: the configured one, the development one when no key is set, None for a key set inline."""
        if self.field_encryption_key is not None:
            return None
        return self.field_encryption_key_file or DEVELOPMENT_KEY_FILE

    @model_validator(mode="after")
    def _no_placeholders_in_production(self) -> Settings:
        if self.environment == "production":
            for name in ("rasa_token",):
                if getattr(self, name) in DEVELOPMENT_PLACEHOLDERS:
                    raise ValueError(
                        f"{name.upper()} is still the development placeholder; set a secret value "
                        f"(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`) in the environment or .env"
                    )
        return self

    def rasa_url(self, worker: int = 0) -> str:
        """Base URL of one Rasa worker process."""
        return f"http://{self.rasa_host}:{self.rasa_port + worker}"

    @property
    def sip_registrar_address(self) -> tuple[str, int] | None:
        """The registrar as (host, port), 5060 when no port is given."""
        if not self.sip_registrar:
            return None
        host, sep, port = self.sip_registrar.rpartition(":")
        return (host.strip("[]"), int(port)) if sep else (self.sip_registrar, 5060)

    @property
    def sip_allowed_peer_list(self) -> tuple[str, ...] | None:
        """SIP_ALLOWED_PEERS as a tuple of addresses or networks, None when unset."""
        if not self.sip_allowed_peers:
            return None
        return tuple(entry.strip() for entry in self.sip_allowed_peers.split(",") if entry.strip())

    @property
    def sip_rtp_port_range(self) -> tuple[int, int]:
        """SIP_RTP_PORTS as (low, high)."""
        low, _, high = self.sip_rtp_ports.partition("-")
        return int(low), int(high)

    @property
    def action_url(self) -> str:
        """Base URL of the action server."""
        return f"http://{self.action_host}:{self.action_port}"


def load_settings(**overrides: Any) -> Settings:
    """Reads and validates the settings; a bad value raises ConfigurationError naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']).upper() or 'settings'}: {e['msg']}" for e in err.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from err


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
