"""The supervisors' analytics (JSON and CSV) and their review of unanswered questions; staff get 403.

Figures hold no personal data; every export (CSV download, printed report)
and every review is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from bot.gateway.deps import SupervisorStaff
from bot.services import analytics, audit, insights
from bot.services.analytics_export import to_csv

router = APIRouter(prefix="/api/staff", tags=["staff"])

Day = Annotated[str | None, Query(max_length=10)]
Name = Annotated[str | None, Query(max_length=64, pattern=r"^[a-z0-9_:-]*$")]


class ReviewIn(BaseModel):
    """What to do with an unanswered question: alias (of `service`, or a way of asking for `intent`), faq, or dismissed."""

    model_config = ConfigDict(extra="ignore", strict=True)

    text: str = Field(min_length=1, max_length=500)
    outcome: Literal["alias", "faq", "dismissed"]
    service: str | None = Field(None, max_length=64)
    alias: str | None = Field(None, max_length=200)
    answer: str | None = Field(None, max_length=1000)
    intent: str | None = Field(None, max_length=64, pattern=r"^[a-z0-9_]+$")


class ReviewOut(BaseModel):
    """The question closed and how."""

    text: str
    outcome: str
    service: str | None
    intent: str | None = None
    questions: int


def _period_and_filters(first: str | None, last: str | None, channel: str | None, service: str | None,
                        centre: str | None) -> tuple[analytics.Period, analytics.Filters]:
    return analytics.parse_period(first, last), analytics.Filters(channel or None, service or None, centre or None)


def _described(period: analytics.Period, filters: analytics.Filters) -> str:
    narrowed = ", ".join(f"{k}={v}" for k, v in vars(filters).items() if v)
    return f"{period.first}..{period.last}" + (f" ({narrowed})" if narrowed else "")


@router.get("/analytics")
async def analytics_summary(identity: SupervisorStaff, from_: Annotated[Day, Query(alias="from")] = None,
                            to: Day = None, channel: Name = None, service: Name = None, centre: Name = None,
                            export: Annotated[Literal["print"] | None, Query()] = None) -> dict:
    """The period's figures (both days included, China time); `export=print` records a printed report."""
    period, filters = _period_and_filters(from_, to, channel, service, centre)
    figures = await run_in_threadpool(analytics.summary, period, filters)
    if export == "print":
        await run_in_threadpool(audit.record, identity.username, "print_analytics", "analytics",
                                _described(period, filters))
    return figures


@router.get("/analytics.csv")
async def analytics_csv(identity: SupervisorStaff, from_: Annotated[Day, Query(alias="from")] = None,
                        to: Day = None, channel: Name = None, service: Name = None, centre: Name = None) -> Response:
    """The same figures as CSV with a header row; audited."""
    period, filters = _period_and_filters(from_, to, channel, service, centre)
    figures = await run_in_threadpool(analytics.summary, period, filters)
    await run_in_threadpool(audit.record, identity.username, "export_analytics", "analytics",
                            _described(period, filters))
    filename = f"analytics-{period.first}-{period.last}.csv"
    # A byte-order mark, so spreadsheet programs read the Chinese text as UTF-8.
    return Response("\ufeff" + to_csv(figures), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.post("/unanswered/review", response_model=ReviewOut)
async def review_unanswered(body: ReviewIn, identity: SupervisorStaff) -> ReviewOut:
    """Closes an unanswered question: as a new way of asking for a service, an FAQ answer, or dismissed; audited."""
    done = await run_in_threadpool(insights.review, body.text, body.outcome, identity.username, body.service,
                                   body.alias, body.answer, body.intent)
    intent = body.intent if done.outcome == "alias" and not done.service_id else None
    subject = f"intent:{intent}" if intent else f"service:{done.service_id or '-'}"
    await run_in_threadpool(audit.record, identity.username, "review_unanswered", subject,
                            f"{done.outcome} ({done.questions} asked)")
    return ReviewOut(text=done.text, outcome=done.outcome, service=done.service_id, intent=intent,
                     questions=done.questions)
