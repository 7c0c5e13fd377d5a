"""Dependency aliases shared by the routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from bot.conversation import ConversationService
from bot.engine.client import RasaClient
from bot.errors import Forbidden, Unauthorized
from bot.services import staff
from bot.services.staff import StaffIdentity
from bot.ratelimit import AsyncLimiter
from bot.settings import Settings, get_settings
from bot.knowledge.catalogue import Catalogue, get_catalogue


# These only read the app's state: as coroutines they run on the event loop, where FastAPI would send
# plain functions to a worker thread and back on every request.
async def get_settings_dep(request: Request) -> Settings:
    """The settings the app was built with."""
    return request.app.state.settings


async def get_rasa(request: Request) -> RasaClient:
    """The Rasa client of the app."""
    return request.app.state.rasa


async def get_conversations(request: Request) -> ConversationService:
    """The dialogue core of the app."""
    return request.app.state.conversations


def per_client(quota: str):  # noqa: ANN201 - a FastAPI dependency
    """A dependency that counts one use of `quota` by the request's address (429 with Retry-After past it)."""

    async def check(request: Request) -> None:
        limiter = getattr(request.app.state, "limiter", None)
        if limiter is None:  # an app assembled from single routers (tests): its own limiter
            limiter = request.app.state.limiter = AsyncLimiter(getattr(request.app.state, "settings", None)
                                                               or get_settings())
        if request.client:
            await limiter.hit(quota, request.client.host)

    return Depends(check)


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RasaDep = Annotated[RasaClient, Depends(get_rasa)]
ConversationsDep = Annotated[ConversationService, Depends(get_conversations)]
CatalogueDep = Annotated[Catalogue, Depends(get_catalogue)]


def current_staff(request: Request) -> StaffIdentity:
    """The staff member of the request's bearer token; 401 JSON error when missing, wrong or expired."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token: log in at POST /api/staff/login")
    identity = staff.identity_for_token(token.strip())
    if identity is None:
        raise Unauthorized("invalid or expired token: log in again")
    return identity


def require_role(*roles: str) -> Callable[[StaffIdentity], StaffIdentity]:
    """A dependency that lets through only staff with one of `roles` (403 otherwise)."""

    def check(identity: Annotated[StaffIdentity, Depends(current_staff)]) -> StaffIdentity:
        if identity.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}")
        return identity

    return check


CurrentStaff = Annotated[StaffIdentity, Depends(current_staff)]
SupervisorStaff = Annotated[StaffIdentity, Depends(require_role(*staff.SUPERVISOR_ROLES))]
AdminStaff = Annotated[StaffIdentity, Depends(require_role("admin"))]
