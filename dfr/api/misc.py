"""Session, deployment and airspace, video streams, audit log and health."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import JSONResponse

from dfr.api.deps import OpsDep, PrincipalDep, require
from dfr.api.schemas import AuditOut, LoginIn, LoginOut
from dfr.auth import BadCredentials, Principal, Role
from missions.sortie import FINAL_STATES, SortieState

router = APIRouter(prefix="/api")
Auditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.RTCC, Role.DISPATCHER, Role.PILOT))]


@router.post("/login", response_model=LoginOut, tags=["session"])
async def login(body: LoginIn, ops: OpsDep) -> LoginOut:
    try:
        user = ops.users.authenticate(body.username, body.password)
    except BadCredentials as exc:
        await ops.store.audit(body.username, "login.failed")
        raise HTTPException(401, str(exc)) from exc
    await ops.store.audit(user.name, "login")
    return LoginOut(token=ops.tokens.session(user), name=user.name, role=str(user.role))


@router.get("/me", tags=["session"])
async def me(who: PrincipalDep) -> dict[str, Any]:
    return {"name": who.name, "role": str(who.role), "call_id": who.call_id}


@router.get("/sortie-states", tags=["deployment"])
async def sortie_states() -> dict[str, list[str]]:
    """Every state a sortie can be in, in flight order, and those that end it; consoles
    also show `awaiting_pilot` for a sortie reserved but not yet launched."""
    return {
        "states": [str(s) for s in SortieState],
        "final": [str(s) for s in SortieState if s in FINAL_STATES],
        "before_launch": ["awaiting_pilot"],
    }


@router.get("/deployment", tags=["deployment"])
async def deployment(ops: OpsDep, who: PrincipalDep) -> dict[str, Any]:
    d = ops.deployment
    return {
        "name": d.name,
        "launch_policy": d.launch_policy,
        "tile_url": d.tile_url,
        "cruise_alt_m": d.defaults.cruise_alt_m,
        "on_scene_s": d.defaults.on_scene_s,
        "stations": [
            {
                "id": s.id,
                "name": s.name,
                "latitude_deg": s.position.latitude_deg,
                "longitude_deg": s.position.longitude_deg,
                "drone_id": s.drone.id,
            }
            for s in d.stations
        ],
    }


@router.get("/airspace", tags=["deployment"])
async def airspace(ops: OpsDep, who: PrincipalDep) -> JSONResponse:
    """The deployment's airspace as GeoJSON (operational area, no-fly and ceiling zones)."""
    return JSONResponse(dict(ops.deployment.airspace.geojson), media_type="application/geo+json")


@router.get("/video/streams", tags=["video"])
async def video_streams(ops: OpsDep, who: PrincipalDep) -> list[dict[str, Any]]:
    streams = ops.video_streams()
    if who.call_id is not None:
        sortie = await ops.sortie_for_call(who.call_id)
        streams = [s for s in streams if sortie is not None and s["drone_id"] == sortie.drone_id]
    return streams


@router.get("/audit", response_model=list[AuditOut], tags=["audit"])
async def audit(
    ops: OpsDep,
    who: Auditor,
    after_id: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditOut]:
    return [AuditOut(**asdict(e)) for e in await ops.store.audit_log(limit, after_id)]


@router.get("/health", tags=["health"])
async def health(ops: OpsDep) -> JSONResponse:
    """200 once every drone is connected; 503 (with who is missing) before."""
    status = ops.health()
    return JSONResponse(status, status_code=200 if status["ok"] else 503)
