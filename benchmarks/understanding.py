"""Understanding benchmark: scores POST /api/understand on a labelled test set.

Usage:
    python benchmarks/understanding.py [--url http://127.0.0.1:8000]
        [--data FILE [--data FILE ...]] [--show-errors N]

The held-out test set has three files, all scored by default: understanding_testset.yml
(every style), understanding_testset_more.yml (dialect, voice transcripts, rambling
stories, elderly residents, homophones) and understanding_testset_stories.yml (long
stories, bookings for a named service, relatives and ages, answers to an offer,
"cannot go" questions, everyday requests). Each file gets its own report, then all
together. Every message of the test set is sent to {url}/api/understand as
{"text": ..., "locale": "zh-CN"} (4 at a time). The report gives intent,
service and joint accuracy, the answers about a wrong service given without a
clarifying question (a service other than the gold one, with no `candidates` to
choose from: the person would be told about the wrong service), accuracy per
style and per intent, the most frequent confusions and the latency of the calls.

A gold service of null must be predicted as null. Messages whose call failed
(no connection, timeout, non-200 status, malformed answer) are not scored;
they are listed, and the exit status is then 1. Low accuracy never changes
the exit status. A data file that does not validate exits with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

DEFAULT_URL = "http://127.0.0.1:8000"
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_DATA = (DATA_DIR / "understanding_testset.yml", DATA_DIR / "understanding_testset_more.yml",
                DATA_DIR / "understanding_testset_stories.yml")
CONCURRENCY = 4
TIMEOUT_SECONDS = 30.0

# The stable names of the shared vocabulary (contract/vocabulary.yml).
INTENTS = frozenset({
    "greet", "goodbye", "thank", "affirm", "deny", "ask_how_to_apply",
    "ask_materials", "ask_location_hours", "ask_fee", "ask_processing_time",
    "ask_eligibility", "start_application", "check_status", "request_human",
    "book_appointment", "cancel_appointment", "complain", "repeat",
    "out_of_scope",
})
SERVICES = frozenset({
    "social_security_card", "pension_qualification", "senior_allowance",
    "senior_card", "medical_reimbursement", "medical_transfer_registration",
    "residence_permit", "wage_arrears_complaint", "school_enrollment",
    "housing_fund_withdrawal", "id_card", "household_registration",
    "birth_registration", "minimum_living_allowance",
    "flexible_employment_insurance", "unemployment_benefit",
    "disability_certificate", "property_certificate", "business_license",
    "work_injury",
})
STYLES = frozenset({
    "elderly", "migrant_worker", "community_staff", "voice_transcript",
    "typo", "homophone", "dialect", "traditional", "mixed_english", "pinyin",
    "terse", "rambling",
    # the patterns of understanding_testset_stories.yml
    "long_story", "named_booking", "relative_age", "offer_reply", "cannot_go",
    "everyday_request",
})


class DataError(ValueError):
    """The test set file is malformed."""


@dataclass(frozen=True)
class Case:
    text: str
    intent: str
    service: str | None
    style: str


@dataclass(frozen=True)
class Prediction:
    intent: str | None
    service: str | None
    # The services a clarifying question would offer; empty when the answer is about `service` alone.
    candidates: tuple[str, ...] = ()

    @property
    def asks_which_service(self) -> bool:
        return len(self.candidates) > 1


@dataclass
class Accuracy:
    n: int = 0
    intent: int = 0
    service: int = 0
    joint: int = 0

    def add(self, intent_ok: bool, service_ok: bool) -> None:
        self.n += 1
        self.intent += intent_ok
        self.service += service_ok
        self.joint += intent_ok and service_ok

    def rate(self, name: str) -> float:
        return getattr(self, name) / self.n if self.n else 0.0


@dataclass
class Report:
    total: Accuracy = field(default_factory=Accuracy)
    by_style: dict[str, Accuracy] = field(default_factory=dict)
    by_intent: dict[str, Accuracy] = field(default_factory=dict)
    intent_confusions: Counter = field(default_factory=Counter)
    service_confusions: Counter = field(default_factory=Counter)
    mistakes: list[tuple[Case, Prediction]] = field(default_factory=list)
    # Answers about a service other than the gold one, without asking which service is meant.
    wrong_service_unasked: list[tuple[Case, Prediction]] = field(default_factory=list)


# ---------------------------------------------------------------- pure functions

def parse_cases(raw: Any) -> list[Case]:
    """Validate the loaded YAML and turn it into cases; raise DataError."""
    if not isinstance(raw, list) or not raw:
        raise DataError("the test set must be a non-empty YAML list")
    cases: list[Case] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        where = f"item {i}"
        if not isinstance(item, dict) or set(item) != {"text", "intent", "service", "style"}:
            raise DataError(f"{where}: needs exactly text, intent, service, style")
        text, intent, service, style = item["text"], item["intent"], item["service"], item["style"]
        if not isinstance(text, str) or not text.strip():
            raise DataError(f"{where}: text must be a non-empty string")
        if intent not in INTENTS:
            raise DataError(f"{where}: unknown intent {intent!r}")
        if service is not None and service not in SERVICES:
            raise DataError(f"{where}: unknown service {service!r}")
        if style not in STYLES:
            raise DataError(f"{where}: unknown style {style!r}")
        if text in seen:
            raise DataError(f"{where}: duplicate text {text!r}")
        seen.add(text)
        cases.append(Case(text, intent, service, style))
    return cases


def load_cases(path: str | Path) -> list[Case]:
    """The validated cases of one test set file; raise DataError, OSError or yaml.YAMLError."""
    with open(path, encoding="utf-8") as f:
        return parse_cases(yaml.safe_load(f))


def load_test_sets(paths: Sequence[str | Path]) -> dict[str, list[Case]]:
    """The cases of each file, by file name; a message in two files is refused (each must stay held out once)."""
    sets: dict[str, list[Case]] = {}
    seen: dict[str, str] = {}
    for path in paths:
        name = Path(path).name
        cases = load_cases(path)
        for case in cases:
            if case.text in seen:
                raise DataError(f"{name}: {case.text!r} is also in {seen[case.text]}")
            seen[case.text] = name
        sets[name] = cases
    return sets


def parse_prediction(body: Any) -> Prediction:
    """Read an /api/understand answer; raise ValueError if it is malformed."""
    if not isinstance(body, dict) or not isinstance(body.get("intent"), str):
        raise ValueError(f"answer without a string intent: {body!r}")
    service = body.get("service")
    if service is not None and not isinstance(service, str):
        raise ValueError(f"service is neither a string nor null: {body!r}")
    candidates = body.get("candidates") or []
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        raise ValueError(f"candidates is not a list of service ids: {body!r}")
    return Prediction(body["intent"], service, tuple(candidates))


def score(cases: Sequence[Case], predictions: Sequence[Prediction | None]) -> Report:
    """Score predictions against gold cases (same order); None = not answered."""
    if len(cases) != len(predictions):
        raise ValueError("cases and predictions differ in length")
    report = Report()
    for case, pred in zip(cases, predictions):
        if pred is None:
            continue
        intent_ok = pred.intent == case.intent
        service_ok = pred.service == case.service
        report.total.add(intent_ok, service_ok)
        report.by_style.setdefault(case.style, Accuracy()).add(intent_ok, service_ok)
        report.by_intent.setdefault(case.intent, Accuracy()).add(intent_ok, service_ok)
        if not intent_ok:
            report.intent_confusions[(case.intent, pred.intent)] += 1
        if not service_ok:
            report.service_confusions[(case.service, pred.service)] += 1
            if pred.service is not None and not pred.asks_which_service:
                report.wrong_service_unasked.append((case, pred))
        if not (intent_ok and service_ok):
            report.mistakes.append((case, pred))
    return report


def latency_stats(latencies: Iterable[float]) -> tuple[float, float]:
    """Mean and 95th percentile (nearest rank) in seconds; (0, 0) if empty."""
    values = sorted(latencies)
    if not values:
        return 0.0, 0.0
    rank = max(1, math.ceil(0.95 * len(values)))
    return sum(values) / len(values), values[rank - 1]


def _name(value: str | None) -> str:
    return "null" if value is None else value


def _pct(acc: Accuracy, name: str) -> str:
    return f"{100 * acc.rate(name):5.1f}%"


def format_report(report: Report, *, total_messages: int, failures: int,
                  latencies: Sequence[float], show_errors: int = 0,
                  top: int = 10) -> str:
    t = report.total
    lines = [
        f"messages:          {total_messages} (scored {t.n}, call errors {failures})",
        f"intent accuracy:   {_pct(t, 'intent')}  ({t.intent}/{t.n})",
        f"service accuracy:  {_pct(t, 'service')}  ({t.service}/{t.n})",
        f"joint accuracy:    {_pct(t, 'joint')}  ({t.joint}/{t.n})",
        f"wrong service, not asked: {len(report.wrong_service_unasked)}",
    ]
    mean, p95 = latency_stats(latencies)
    lines.append(f"latency:           mean {mean * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"
                 f" ({len(latencies)} calls)")

    def table(title: str, groups: dict[str, Accuracy]) -> None:
        lines.append("")
        lines.append(f"{title:<30} {'n':>4}  {'intent':>6}  {'service':>7}  {'joint':>6}")
        for key in sorted(groups):
            acc = groups[key]
            lines.append(f"{key:<30} {acc.n:>4}  {_pct(acc, 'intent')}  "
                         f"{_pct(acc, 'service'):>7}  {_pct(acc, 'joint')}")

    table("by style", report.by_style)
    table("by gold intent", report.by_intent)

    def confusions(title: str, counter: Counter) -> None:
        lines.append("")
        lines.append(f"top {title} confusions (gold -> predicted):")
        if not counter:
            lines.append("  none")
        for (gold, pred), count in sorted(counter.items(),
                                          key=lambda kv: (-kv[1], _name(kv[0][0]), _name(kv[0][1])))[:top]:
            lines.append(f"  {count:>4}  {_name(gold)} -> {_name(pred)}")

    confusions("intent", report.intent_confusions)
    confusions("service", report.service_confusions)

    if show_errors > 0 and report.mistakes:
        lines.append("")
        lines.append(f"first {min(show_errors, len(report.mistakes))} of "
                     f"{len(report.mistakes)} wrong answers:")
        for case, pred in report.mistakes[:show_errors]:
            lines.append(f"  [{case.style}] {case.text}")
            asked = f"  asks: {', '.join(pred.candidates)}" if pred.asks_which_service else ""
            lines.append(f"      gold {case.intent}/{_name(case.service)}"
                         f"  got {_name(pred.intent)}/{_name(pred.service)}{asked}")
    return "\n".join(lines)


# ---------------------------------------------------------------- HTTP

@dataclass
class CallResult:
    prediction: Prediction | None
    latency: float | None
    error: str | None = None


async def _call(client: httpx.AsyncClient, semaphore: asyncio.Semaphore,
                url: str, text: str) -> CallResult:
    async with semaphore:
        started = time.perf_counter()
        try:
            response = await client.post(url, json={"text": text, "locale": "zh-CN"})
            elapsed = time.perf_counter() - started
            if response.status_code != 200:
                return CallResult(None, elapsed, f"HTTP {response.status_code}: {response.text[:200]}")
            return CallResult(parse_prediction(response.json()), elapsed)
        except httpx.HTTPError as exc:
            return CallResult(None, None, f"{type(exc).__name__}: {exc}")
        except ValueError as exc:  # malformed JSON or answer shape
            return CallResult(None, time.perf_counter() - started, f"bad answer: {exc}")


async def collect(cases: Sequence[Case], base_url: str, *,
                  concurrency: int = CONCURRENCY, timeout: float = TIMEOUT_SECONDS,
                  transport: httpx.AsyncBaseTransport | None = None) -> list[CallResult]:
    url = base_url.rstrip("/") + "/api/understand"
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
        return list(await asyncio.gather(*(_call(client, semaphore, url, c.text) for c in cases)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score POST /api/understand on the labelled test set.")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"gateway root (default {DEFAULT_URL})")
    parser.add_argument("--data", action="append", metavar="FILE",
                        help="test set YAML file; repeat for several (default: every file of the held-out set)")
    parser.add_argument("--show-errors", type=int, default=0, metavar="N",
                        help="list the first N wrongly understood messages of each file")
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS,
                        help=f"seconds per call (default {TIMEOUT_SECONDS:g})")
    args = parser.parse_args(argv)

    paths = args.data or [str(p) for p in DEFAULT_DATA]
    try:
        sets = load_test_sets(paths)
    except (OSError, yaml.YAMLError, DataError) as exc:
        print(f"cannot load the test set: {exc}", file=sys.stderr)
        return 2

    cases = [case for group in sets.values() for case in group]
    results = asyncio.run(collect(cases, args.url, timeout=args.timeout))
    sections: list[tuple[str, list[Case], list[CallResult]]] = []
    start = 0
    for name, group in sets.items():
        sections.append((name, group, results[start:start + len(group)]))
        start += len(group)
    if len(sets) > 1:
        sections.append(("all files", cases, results))
    for index, (name, group, group_results) in enumerate(sections):
        if len(sections) > 1:
            print(("\n" if index else "") + f"=== {name}")
        report = score(group, [r.prediction for r in group_results])
        print(format_report(report, total_messages=len(group),
                            failures=sum(r.error is not None for r in group_results),
                            latencies=[r.latency for r in group_results if r.latency is not None],
                            show_errors=0 if name == "all files" else args.show_errors))
    failures = [(c, r.error) for c, r in zip(cases, results) if r.error is not None]
    if failures:
        print(f"\n{len(failures)} call(s) failed; first ones:", file=sys.stderr)
        for case, error in failures[:5]:
            print(f"  {case.text}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
