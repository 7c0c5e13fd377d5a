"""Keeping residents' personal numbers out of sight: masks for display, redaction of logs, encryption at rest."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# ---- masks for display -------------------------------------------------------------------------


def _compact(value: str) -> str:
    return re.sub(r"[\s\-‐–—_.]", "", unicodedata.normalize("NFKC", value or ""))


def _mask_middle(value: str, keep_start: int, keep_end: int) -> str:
    if len(value) <= keep_start + keep_end:
        return "*" * len(value)
    return value[:keep_start] + "*" * (len(value) - keep_start - keep_end) + value[len(value) - keep_end:]


def mask_id_number(id_number: str) -> str:
    """110101199003074514 → 110***********4514.

    Only the province-level digits and the last four stay visible: digits 1-6
    name the county and 7-14 the birth date, and together they narrow a person
    down to a few hundred people, while the last four let a resident recognise
    their own number when it is read back.
    """
    return _mask_middle(_compact(id_number).upper(), 3, 4)


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678, the way carriers and banks show a mobile number."""
    digits = _compact(phone)
    if len(digits) == 11:
        return _mask_middle(digits, 3, 4)
    return _mask_middle(digits, 0, 4) if len(digits) > 4 else "*" * len(digits)


def mask_name(name: str) -> str:
    """张建国 → 张**, 阿卜杜·热合曼 → 阿**·***: the family name alone is shown."""
    name = (name or "").strip()
    return name[:1] + "".join("·" if ch == "·" else "*" for ch in name[1:])


# Where the street-level part of an address ends, and where the district ends.
_STREET_END = re.compile(r"(?:街道|大街|大道|胡同|路|街|巷|镇|乡|村)")
_DISTRICT_END = re.compile(r"(?:自治州|自治县|省|市|(?<![小社园校])区|县|旗|盟)")
# House, building and room numbers: digits, or Chinese numerals before 号/栋/楼... (三号楼, 五单元).
_NUMBER_DETAIL = re.compile(r"[0-9]|[零〇一二两三四五六七八九十百]{1,12}(?:号|栋|幢|楼|单元|室|层|弄|组|排)")


def mask_address(address: str) -> str:
    """北京市海淀区中关村大街27号院3号楼502室 → 北京市海淀区中关村大街****: the area stays, the door is hidden."""
    text = unicodedata.normalize("NFKC", address or "").strip()
    if not text:
        return ""
    detail = _NUMBER_DETAIL.search(text)
    head = text[:detail.start()] if detail else text
    for pattern in (_STREET_END, _DISTRICT_END):
        ends = [m.end() for m in pattern.finditer(head)]
        if ends:
            kept = text[:ends[-1]]
            break
    else:
        # No district or street named: keep what comes before the door number, or a third of the text.
        kept = head if detail and head else text[:len(text) // 3]
    return kept + "****" if len(kept) < len(text) else kept


# ---- redaction of free text --------------------------------------------------------------------

# Digits as they reach logs: ASCII, full-width, and Chinese as spoken on the phone.
# Chinese digits include the capital forms of bank slips (壹贰叁) and the radio digits read out on the phone (洞幺拐勾).
_CHINESE_DIGITS = "零〇一二三四五六七八九幺两壹贰叁肆伍陆柒捌玖洞拐勾"
_DIGITS = "0-9０-９" + _CHINESE_DIGITS
_TO_ASCII = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)},
                           "零": "0", "〇": "0", "洞": "0", "一": "1", "幺": "1", "壹": "1", "二": "2", "两": "2",
                           "贰": "2", "三": "3", "叁": "3", "四": "4", "肆": "4", "五": "5", "伍": "5", "六": "6",
                           "陆": "6", "七": "7", "拐": "7", "柒": "7", "八": "8", "捌": "8", "九": "9", "勾": "9",
                           "玖": "9", "Ｘ": "X", "ｘ": "X", "x": "X"})
# Arabic and Chinese digits form separate groups, so "第一13812345678" still shows the phone number in it.
_GROUP = rf"[0-9０-９]+[XxＸｘ]?|[{_CHINESE_DIGITS}]+"
_RUN = re.compile(rf"(?<![{_DIGITS}])(?:{_GROUP})(?:[ \t\u3000\-－‐–—_.．·/／]{{0,3}}(?:{_GROUP}))*")
_GROUP_PATTERN = re.compile(_GROUP)


_ID_NUMBER = re.compile(r"\d{17}[\dX]")
_MOBILE = re.compile(r"1[3-9]\d{9}")
# The longest personal number (a 19-digit bank card): no stretch of digits longer than this is ever masked
# whole, so each starting group looks ahead at most this many characters and a message costs linear time.
LONGEST_NUMBER = 19
# Lengths that can be a personal number: mobile 11, with 86 13, with 0086 or a 15-digit ID 15, cards 16-19.
_NUMBER_LENGTHS = frozenset({11, 13, 15, 16, 17, 18, 19})


def _masked_number(digits: str) -> str | None:
    """The masked form of a digit string that looks like a personal number, else None."""
    if len(digits) == 18 and _ID_NUMBER.fullmatch(digits):
        return mask_id_number(digits)
    if "X" in digits:
        return None
    if len(digits) == 11 and _MOBILE.fullmatch(digits):
        return mask_phone(digits)
    if len(digits) == 13 and digits.startswith("86") and _MOBILE.fullmatch(digits, 2):
        return "86" + mask_phone(digits[2:])
    if len(digits) == 15 and digits.startswith("0086") and _MOBILE.fullmatch(digits, 4):
        return "0086" + mask_phone(digits[4:])
    if 15 <= len(digits) <= LONGEST_NUMBER:
        # Bank cards (16-19 digits) and first-generation 15-digit ID numbers: the last four identify them enough.
        return "*" * (len(digits) - 4) + digits[-4:]
    return None


@dataclass(frozen=True)
class NumberSpan:
    """Where a personal number stands in a text, its digits (ASCII, no separators) and its masked form."""

    start: int
    end: int
    digits: str
    masked: str

    @property
    def kind(self) -> str:
        """id_number, phone or card (bank cards and first-generation 15-digit ID numbers)."""
        if len(self.digits) == 18 and _ID_NUMBER.fullmatch(self.digits):
            return "id_number"
        return "card" if len(self.digits) >= 15 and not self.digits.startswith("0086") else "phone"


def _numbers_in_run(run: str, offset: int) -> Iterator[NumberSpan]:
    """From left to right, the longest stretch of whole digit groups that reads as a personal number."""
    spans = [(m.start(), m.end()) for m in _GROUP_PATTERN.finditer(run)]
    flat = "".join(run[a:b] for a, b in spans).translate(_TO_ASCII)
    # ends[i]: where group i ends in `flat`, the digits of the run without separators.
    ends, total = [], 0
    for a, b in spans:
        total += b - a
        ends.append(total)
    start = 0
    while start < len(spans):
        origin = ends[start - 1] if start else 0
        candidates = []
        end = start
        while end < len(spans) and ends[end] - origin <= LONGEST_NUMBER:
            if ends[end] - origin in _NUMBER_LENGTHS:
                candidates.append(end)
            if flat[ends[end] - 1] == "X":
                break  # an X closes an ID number: no longer stretch can be one
            end += 1
        for end in reversed(candidates):
            digits = flat[origin:ends[end]]
            masked = _masked_number(digits)
            if masked is not None:
                yield NumberSpan(offset + spans[start][0], offset + spans[end][1], digits, masked)
                start = end + 1
                break
        else:
            start += 1


def personal_numbers(text: str) -> list[NumberSpan]:
    """The ID, mobile and bank card numbers in a text, however they were spaced or written, in one pass."""
    if not text:
        return []
    return [span for run in _RUN.finditer(text) for span in _numbers_in_run(run.group(0), run.start())]


def replace_numbers(text: str, replacement: Callable[[NumberSpan], str]) -> str:
    """The text with each personal number replaced by what `replacement` makes of it."""
    pieces, position = [], 0
    for span in personal_numbers(text):
        pieces += [text[position:span.start], replacement(span)]
        position = span.end
    return "".join(pieces) + text[position:] if pieces else text


def redact_text(text: str) -> str:
    """The text with ID numbers, mobile numbers and bank card numbers masked, however they were spaced or written."""
    return replace_numbers(text, lambda span: span.masked)


# ---- logging -----------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else was passed in `extra=` and may hold personal data.
_STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Masks ID, phone and card numbers in a record's message, arguments, extras, traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrites the record in place; never drops it."""
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed format string: keep every part, redacted
            message = f"{record.msg} {record.args!r}"
        # The merged message replaces msg and args, so no argument can reach a formatter unredacted.
        record.msg, record.args = redact_text(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_RECORD_ATTRIBUTES and isinstance(value, str):
                setattr(record, name, redact_text(value))
        return True


def install_redaction(logger_names: Iterable[str] | None = None) -> RedactingFilter:
    """Adds one RedactingFilter to every handler of the root logger and of the named loggers (once each).

    Filters sit on handlers rather than loggers because a logger's own filters
    do not see records propagated from its children. Handlers created later
    (by a library configuring logging after start-up) need another call.
    """
    loggers = [logging.getLogger()] + [logging.getLogger(name) for name in (logger_names or ())]
    redacting = next((f for lg in loggers for h in lg.handlers for f in h.filters if isinstance(f, RedactingFilter)),
                     RedactingFilter())
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(redacting)
    return redacting


# ---- encryption at rest ------------------------------------------------------------------------

class FieldDecryptError(ValueError):
    """A stored value could not be decrypted: a different key, or the value was altered."""

    code = "field_decrypt"


_KEY_HELP = ("must be 32 bytes in url-safe base64; create one with "
             "`python -c 'from bot.privacy import generate_key; print(generate_key())'`")


def generate_key() -> str:
    """A new random key for FieldCipher (url-safe base64 of 32 bytes)."""
    return Fernet.generate_key().decode("ascii")


def _key_bytes(key: str) -> bytes | None:
    text = (key or "").strip()
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 and re.fullmatch(r"[A-Za-z0-9_\-]+=*", text) else None


def field_cipher_key(secret: str) -> str:
    """A FieldCipher key from a setting: a proper key is used as it is, any other secret is stretched into one.

    Stretching uses scrypt so that a short passphrase still costs an attacker
    real work per guess; a generated key is preferred in production.
    """
    raw = _key_bytes(secret)
    if raw is None:
        if not secret:
            raise ValueError(f"the field encryption key is empty; it {_KEY_HELP}")
        raw = hashlib.scrypt(secret.encode("utf-8"), salt=b"bianmin-assistant field encryption key",
                             n=2 ** 14, r=8, p=1, dklen=32)
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _fingerprint_key(raw: bytes) -> bytes:
    # A separate key for fingerprints, so the HMAC never reuses the encryption key material directly.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"bianmin-assistant field fingerprint v1").derive(raw)


class FieldCipher:
    """Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) of personal fields, with key rotation."""

    def __init__(self, key: str, old_keys: Sequence[str] = ()):
        raws = []
        for position, candidate in enumerate([key, *old_keys]):
            raw = _key_bytes(candidate)
            if raw is None:
                which = "the field encryption key" if position == 0 else f"old field encryption key #{position}"
                raise ValueError(f"{which} {_KEY_HELP}")
            raws.append(raw)
        # MultiFernet encrypts with the first key and decrypts with any of them.
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(raw)) for raw in raws])
        self._fingerprint_keys = [_fingerprint_key(raw) for raw in raws]

    def __repr__(self) -> str:
        return f"FieldCipher(<{len(self._fingerprint_keys)} key(s)>)"

    def encrypt(self, plaintext: str) -> str:
        """The value encrypted with the current key, as ASCII text for a database column."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain value of a token made with the current or any old key; FieldDecryptError otherwise."""
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, AttributeError) as err:
            raise FieldDecryptError("a stored personal field could not be decrypted with the configured keys") from err

    def rotate(self, token: str) -> str:
        """The token re-encrypted under the current key (for migrating rows after a key change)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError, AttributeError) as err:
            raise FieldDecryptError("a stored personal field could not be decrypted with the configured keys") from err

    def fingerprint(self, value: str) -> str:
        """Keyed HMAC-SHA256 (hex) of a value, to find a row by ID number or phone without storing it in plain text.

        Pass the clean form (e.g. what parse_id_number returns) so that two
        spellings of one number give one fingerprint.
        """
        return hmac.new(self._fingerprint_keys[0], value.encode("utf-8"), hashlib.sha256).hexdigest()

    def lookup_fingerprints(self, value: str) -> tuple[str, ...]:
        """The value's fingerprint under the current key first, then under each old key (for lookups mid-rotation)."""
        return tuple(hmac.new(k, value.encode("utf-8"), hashlib.sha256).hexdigest() for k in self._fingerprint_keys)
