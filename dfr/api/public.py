"""The public flight log, for anyone, without logging in: JSON, CSV and GeoJSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from dfr.api.deps import OpsDep
from dfr.api.schemas import PublicLogOut
from dfr.public_formats import log_csv, log_geojson, log_json

router = APIRouter(prefix="/api/public", tags=["public"])

#: Open data: any page may read it (no credentials travel), and caches may keep it briefly.
OPEN = {"Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=60"}


def _download(name: str) -> dict[str, str]:
    return {**OPEN, "Content-Disposition": f'attachment; filename="{name}"'}


@router.get("/flights.json", response_model=PublicLogOut)
async def flights_json(ops: OpsDep) -> JSONResponse:
    """Every published flight (newest first), the monthly figures and how many flights are
    held back. A flight appears `delay_h` hours after it ended."""
    content: dict[str, Any] = log_json(await ops.records.public_flights())
    return JSONResponse(PublicLogOut(**content).model_dump(), headers=OPEN)


@router.get(
    "/flights.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "one row per flight"}},
)
async def flights_csv(ops: OpsDep) -> Response:
    """The published flights, a row each (the tracks are in the GeoJSON)."""
    text = log_csv(await ops.records.public_flights())
    return Response(text, media_type="text/csv; charset=utf-8", headers=_download("flights.csv"))


@router.get(
    "/flights.geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}, "description": "a feature each"}},
)
async def flights_geojson(ops: OpsDep) -> JSONResponse:
    """The published flights as GeoJSON features: each one's coarse track and its fields."""
    return JSONResponse(
        log_geojson(await ops.records.public_flights()),
        media_type="application/geo+json",
        headers=_download("flights.geojson"),
    )
