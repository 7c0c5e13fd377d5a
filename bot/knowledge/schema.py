"""The shape of a service entry and of a service centre.

The catalogue is data a deploying government replaces, so the schema is strict:
a typo in a field name or a missing section fails validation at load time
instead of producing a half-empty answer to a resident.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Strict(BaseModel):
    """Base model that rejects unknown fields, so typos in YAML are caught."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Material(Strict):
    """One document or item a resident brings or uploads."""

    name: str
    original: bool = True
    copies: int = Field(0, ge=0)
    count: int = Field(1, ge=1)
    required: bool = True
    notes: str = ""


class Section(Strict):
    """A section with a spoken summary (read aloud, at most three short sentences) and details."""

    summary: str = Field(min_length=2, max_length=120)
    details: list[str] = []


class Eligibility(Section):
    """Who may apply; `checks` are machine-checkable rules used by application forms."""

    checks: dict[str, int | str | bool] = {}


class Fees(Section):
    """What it costs; amount_yuan is 0 when free."""

    amount_yuan: float = Field(0, ge=0)


class ProcessingTime(Section):
    """How long it takes; working_days is 0 when done on the spot."""

    working_days: int = Field(ge=0)


class Steps(Strict):
    """How to apply online and in person."""

    online_available: bool
    online_channels: list[str] = []
    online: list[str] = []
    offline: list[str] = Field(min_length=1)


class Proxy(Section):
    """Whether someone else may do it for the person (代办), and what that person brings besides the usual materials."""

    allowed: bool
    documents: list[str] = []


class HomeVisit(Section):
    """Whether staff come to the person (上门服务), and for whom."""

    available: bool
    for_whom: str = ""


class Faq(Strict):
    """A frequent question with its short answer."""

    question: str
    answer: str


class Source(Strict):
    """Where the content comes from and who reviewed it."""

    title: str
    url: str = ""
    note: str = ""


class Service(Strict):
    """One public service of the catalogue (one YAML file in knowledge_base/services/)."""

    id: str
    name: str
    short_name: str
    aliases: list[str] = Field(min_length=5)
    department: str
    description: str = Field(min_length=10, max_length=200)
    eligibility: Eligibility
    materials: list[Material] = Field(min_length=1)
    materials_summary: str = Field(min_length=2, max_length=120)
    centres: list[str] = Field(min_length=1)
    where_summary: str = Field(min_length=2, max_length=120)
    fees: Fees
    processing_time: ProcessingTime
    steps: Steps
    # For those who cannot come ("去不了"): proxy handling and home visits. None: not known yet.
    proxy: Proxy | None = None
    home_visit: HomeVisit | None = None
    apply_via_assistant: bool = False
    faq: list[Faq] = []
    source: Source
    last_reviewed: dt.date
    sample_data: bool = True

    @field_validator("aliases")
    @classmethod
    def _aliases_unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("aliases must not repeat")
        return value


class OpeningHours(Strict):
    """Opening hours on given weekdays, with an optional lunch break."""

    days: list[Weekday] = Field(min_length=1)
    open: dt.time
    close: dt.time
    lunch_start: dt.time | None = None
    lunch_end: dt.time | None = None


class Centre(Strict):
    """A service centre (政务服务中心 / 便民服务中心) where residents go in person."""

    id: str
    name: str
    district: str
    address: str
    phone: str
    hours: list[OpeningHours] = Field(min_length=1)
    closed_dates: list[dt.date] = []
    services: list[str] = Field(min_length=1)
    green_channel: bool = False
    green_channel_note: str = ""
    slot_minutes: int = Field(30, ge=10, le=120)
    capacity_per_slot: int = Field(4, ge=1)
    transport: str = ""


class City(Strict):
    """The city the catalogue describes and the numbers any answer may fall back on (knowledge_base/city.yml)."""

    # Phone numbers written without quotes in YAML (hotline: 12345) are still phone numbers.
    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    city: str = Field(min_length=1)
    hotline: str = Field(min_length=3)
    hotline_hours: str = ""
    emergency: dict[str, str] = {}
    sample_data: bool = True
