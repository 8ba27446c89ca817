"""Session, deployment and airspace, video streams, audit log and health."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from dfr.api.deps import (
    AccessDep,
    AfterId,
    OpsDep,
    PageSize,
    PrincipalDep,
    ViewsDep,
    next_page,
    require,
)
from dfr.api.errors import answers
from dfr.api.schemas import MAX_ID, AuditOut, HealthOut, LoginIn, LoginOut, VideoViewOut
from dfr.auth import BadCredentials, BadToken, Principal, Role
from missions.sortie import FINAL_STATES, SortieState

router = APIRouter(prefix="/api")
GEOJSON = "application/geo+json"
Auditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.RTCC, Role.DISPATCHER, Role.PILOT))]
ViewAuditor = Annotated[Principal, Depends(require(Role.ADMIN, Role.RTCC))]
SortieFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="views of this sortie")]
CallFilter = Annotated[int | None, Query(ge=1, le=MAX_ID, description="views of this call")]


@router.post(
    "/login",
    response_model=LoginOut,
    tags=["session"],
    responses=answers(400, 401, 413, 422, 429),
)
async def login(body: LoginIn, request: Request, access: AccessDep) -> LoginOut:
    """A session token. 401 for a wrong name or password; 429 with Retry-After after too
    many failures from the account or the address, or while too many logins wait."""
    address = request.client.host if request.client else "unknown"
    try:
        token, user = await access.login(body.username, body.password, address)
    except BadCredentials as exc:
        raise HTTPException(401, str(exc)) from exc
    return LoginOut(token=token, name=user.name, role=str(user.role))


@router.post("/logout", status_code=204, tags=["session"], responses=answers(400, 401, 422))
async def logout(access: AccessDep, who: PrincipalDep) -> None:
    """End this session: its token is refused from now on."""
    try:
        await access.logout(who)
    except BadToken as exc:
        raise HTTPException(400, str(exc)) from exc


@router.get("/me", tags=["session"], responses=answers(401, 422))
async def me(who: PrincipalDep) -> dict[str, Any]:
    return {
        "name": who.name,
        "role": str(who.role),
        "call_id": who.call_id,
        "agency": who.agency,
        "agencies": sorted(who.agencies) if who.agencies is not None else None,
    }


@router.get("/sortie-states", tags=["deployment"], responses=answers(401, 422))
async def sortie_states(who: PrincipalDep) -> dict[str, list[str]]:
    """Every state a sortie can be in, in flight order, and those that end it; consoles
    also show `awaiting_pilot` for a sortie reserved but not yet launched."""
    return {
        "states": [str(s) for s in SortieState],
        "final": [str(s) for s in SortieState if s in FINAL_STATES],
        "before_launch": ["awaiting_pilot"],
    }


@router.get("/deployment", tags=["deployment"], responses=answers(401, 422))
async def deployment(ops: OpsDep, who: PrincipalDep) -> dict[str, Any]:
    return ops.views.deployment_view(who)


@router.get(
    "/airspace",
    tags=["deployment"],
    # Documented here, not by the response class: errors are application/json.
    response_class=Response,
    responses={
        200: {"content": {GEOJSON: {"schema": {"type": "object"}}}},
        **answers(401, 422),
    },
)
async def airspace(ops: OpsDep, who: PrincipalDep) -> JSONResponse:
    """The deployment's airspace as GeoJSON (operational area, no-fly and ceiling zones)."""
    return JSONResponse(ops.views.airspace_geojson(), media_type=GEOJSON)


@router.get("/video/streams", tags=["video"], responses=answers(401, 422))
async def video_streams(ops: OpsDep, who: PrincipalDep) -> list[dict[str, Any]]:
    return ops.views.video_streams(who)


@router.get(
    "/video/views",
    response_model=list[VideoViewOut],
    tags=["audit"],
    responses=answers(401, 403, 422),
)
async def video_views(
    views: ViewsDep,
    ops: OpsDep,
    who: ViewAuditor,
    response: Response,
    after_id: AfterId = 0,
    limit: PageSize = 500,
    sortie_id: SortieFilter = None,
    call_id: CallFilter = None,
) -> list[VideoViewOut]:
    """Who watched which drone's live video, from when to when (a view of a sortie or a
    call: its drone watched while the sortie lasted, or watched for it), in id order, a
    page at a time (X-Next-After-Id names the next cursor)."""
    if sortie_id is not None and call_id is not None:
        msg = "ask for the views of a sortie or of a call, not both"
        raise HTTPException(422, [{"loc": ["query", "call_id"], "msg": msg, "type": "value_error"}])
    if sortie_id is not None:
        records = await views.of_sortie(sortie_id, after_id, limit)
    elif call_id is not None:
        records = await views.of_call(call_id, after_id, limit)
    else:
        records = await views.page(after_id, limit)
    next_page(response, [r.id for r in records], limit)
    return [VideoViewOut(**asdict(r)) for r in await ops.scope.visible_video_views(who, records)]


@router.get(
    "/audit", response_model=list[AuditOut], tags=["audit"], responses=answers(401, 403, 422)
)
async def audit(
    ops: OpsDep,
    who: Auditor,
    response: Response,
    after_id: AfterId = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AuditOut]:
    """The audit log in order, a page at a time (X-Next-After-Id names the next cursor)."""
    entries = await ops.records.audit_log(limit, after_id)
    next_page(response, [e.id for e in entries], limit)
    return [AuditOut(**asdict(e)) for e in await ops.scope.visible_audit(who, entries)]


@router.get(
    "/health",
    tags=["health"],
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "a drone is not connected"}},
)
async def health(ops: OpsDep) -> JSONResponse:
    """200 once every drone is connected; 503 (with who is missing) before."""
    status = ops.views.health()
    return JSONResponse(status, status_code=200 if status["ok"] else 503)
