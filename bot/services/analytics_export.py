"""The analytics of a period as CSV: one row per figure, the same figures as the JSON and the console."""

from __future__ import annotations

import csv
import io
from typing import Any

HEADER = ("section", "item", "measure", "value")
# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def to_csv(summary: dict[str, Any]) -> str:
    """The summary as CSV text with a header row (section, item, measure, value)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows(summary):
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def rows(summary: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """Every figure of the summary as (section, item, measure, value)."""
    out: list[tuple[str, str, str, Any]] = [
        ("period", "", "from", summary["from"]), ("period", "", "to", summary["to"]),
    ]
    for name, value in summary["filters"].items():
        out.append(("filter", "", name, value or ""))
    out += [("conversations", "", "total", summary["conversations"]),
            ("conversations", "", "contained_rate", summary["contained_rate"]),
            ("conversations", "", "voice_kiosk_share", summary["voice_kiosk_share"])]
    out += [("conversations", channel, "by_channel", n) for channel, n in summary["by_channel"].items()]
    for day in summary["by_day"]:
        out.append(("conversations", day["day"], "by_day", day["total"]))
        out += [("conversations", day["day"], f"by_day:{channel}", n) for channel, n in day["by_channel"].items()]
    out += [("handoffs", "", measure, value) for measure, value in summary["handoffs"].items()]
    out += [("ratings", level, "count", n) for level, n in summary["ratings"].items()]
    out += [("ratings", "", "satisfaction_rate", summary["satisfaction_rate"]), ("ratings", "", "total", summary["rated"])]
    out += [("rating_follow_ups", "", state, n) for state, n in summary["follow_ups"].items()]
    applications = summary["applications"]
    out += [("applications", "", measure, applications[measure]) for measure in ("started", "submitted", "abandoned")]
    for form in applications["by_form"]:
        out += [("applications", form["service"], measure, form[measure]) for measure in ("started", "submitted", "abandoned")]
        out += [("applications", form["service"], f"gave_up_at:{field}", n) for field, n in form["gave_up_at"].items()]
    appointments = summary["appointments"]
    measures = ("booked", "checked_in", "cancelled", "no_show")
    out += [("appointments", "", measure, appointments[measure]) for measure in measures]
    for centre in appointments["by_centre"]:
        out += [("appointments", centre["centre"], measure, centre[measure]) for measure in measures]
    out += [("understanding", "", measure, value) for measure, value in summary["understanding"].items()]
    out += [("unanswered", question["text"], "count", question["count"]) for question in summary["unanswered"]]
    out += [("unanswered_closed", "", outcome, n) for outcome, n in summary["unanswered_closed"].items()]
    return out


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
