"""The service catalogue: GET /api/services and GET /api/services/{id}."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from bot.errors import NotFound
from bot.gateway.deps import CatalogueDep

router = APIRouter(prefix="/api/services", tags=["knowledge base"])


@router.get("")
async def list_services(catalogue: CatalogueDep) -> list[dict[str, Any]]:
    """Every service with its id, name, aliases and department."""
    return [{"id": s.id, "name": s.name, "aliases": list(s.aliases), "department": s.department}
            for s in catalogue.services.values()]


@router.get("/{service_id}")
async def get_service(service_id: str, catalogue: CatalogueDep) -> dict[str, Any]:
    """The full entry of one service, with its centres spelled out."""
    service = catalogue.services.get(service_id)
    if service is None:
        raise NotFound(f"no service with id {service_id!r}")
    entry = service.model_dump(mode="json")
    entry["locations"] = [catalogue.centres[c].model_dump(mode="json") for c in service.centres
                          if c in catalogue.centres]
    return entry
