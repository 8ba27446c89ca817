"""Calls: create, list, get, recommend, dispatch, share, close; CAD and gunshot webhooks."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from dfr.api.deps import OpsDep, PrincipalDep, check_call_scope, require
from dfr.api.schemas import (
    CadCallIn,
    CallIn,
    CallOut,
    DispatchIn,
    DispatchOut,
    GunshotAlertIn,
    RecommendationOut,
    ShareLinkOut,
)
from dfr.api.views import call_out, dispatch_out, recommendation_out
from dfr.auth import Principal, Role
from dfr.store import NewCall
from missions.geo import GeoPoint

router = APIRouter(prefix="/api", tags=["calls"])
Creator = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.ADMIN))]
Sender = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT))]
Sharer = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.RTCC))]


@router.post("/calls", status_code=201, response_model=CallOut)
async def create_call(body: CallIn, ops: OpsDep, who: Creator) -> CallOut:
    call = await ops.create_call(
        NewCall(
            body.latitude_deg,
            body.longitude_deg,
            body.priority,
            body.source,
            body.summary,
            body.external_id,
        ),
        who.name,
    )
    return call_out(call)


@router.get("/calls", response_model=list[CallOut])
async def list_calls(
    ops: OpsDep,
    who: PrincipalDep,
    status: Annotated[list[str] | None, Query()] = None,
) -> list[CallOut]:
    return [call_out(c) for c in await ops.list_calls(who, status)]


@router.get("/calls/{call_id}", response_model=CallOut)
async def get_call(call_id: int, ops: OpsDep, who: PrincipalDep) -> CallOut:
    check_call_scope(who, call_id)
    return call_out(await ops.get_call(call_id))


@router.get("/calls/{call_id}/recommendation", response_model=RecommendationOut)
async def recommend_call(call_id: int, ops: OpsDep, who: PrincipalDep) -> RecommendationOut:
    check_call_scope(who, call_id)
    return recommendation_out(await ops.recommend_call(call_id))


@router.post("/calls/{call_id}/dispatch", response_model=DispatchOut)
async def dispatch_call(
    call_id: int, ops: OpsDep, who: Sender, body: DispatchIn | None = None
) -> DispatchOut:
    result = await ops.dispatch(call_id, who, body.station_id if body else None)
    return dispatch_out(result)


@router.post("/calls/{call_id}/close", response_model=CallOut)
async def close_call(call_id: int, ops: OpsDep, who: Sender) -> CallOut:
    return call_out(await ops.close_call(call_id, who.name))


@router.post("/calls/{call_id}/share", status_code=201, response_model=ShareLinkOut)
async def share_call(call_id: int, request: Request, ops: OpsDep, who: Sharer) -> ShareLinkOut:
    token, ttl_s = await ops.share_call(call_id, who)
    url = str(request.base_url).rstrip("/") + f"/officer?token={token}"
    return ShareLinkOut(url=url, token=token, expires_in_s=ttl_s)


@router.get("/recommend", response_model=RecommendationOut, tags=["dispatch"])
async def recommend_point(
    ops: OpsDep,
    who: Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.ADMIN))],
    latitude_deg: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    longitude_deg: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
) -> RecommendationOut:
    return recommendation_out(await ops.recommend_point(GeoPoint(latitude_deg, longitude_deg)))


@router.post("/webhooks/cad", status_code=201, response_model=CallOut, tags=["webhooks"])
async def cad_webhook(
    body: CadCallIn, ops: OpsDep, x_dfr_token: Annotated[str | None, Header()] = None
) -> CallOut:
    ops.check_webhook(x_dfr_token)
    call = NewCall(
        body.latitude, body.longitude, body.priority, "cad", body.nature, body.incident_id
    )
    return call_out(await ops.create_call(call, "cad"))


@router.post("/webhooks/gunshot", status_code=201, response_model=CallOut, tags=["webhooks"])
async def gunshot_webhook(
    body: GunshotAlertIn, ops: OpsDep, x_dfr_token: Annotated[str | None, Header()] = None
) -> CallOut:
    ops.check_webhook(x_dfr_token)
    summary = f"gunshot alert: {body.rounds} round(s), confidence {body.confidence:.0%}"
    call = NewCall(body.latitude, body.longitude, 1, "gunshot", summary, body.alert_id)
    return call_out(await ops.create_call(call, "gunshot-sensor"))
