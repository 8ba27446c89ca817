"""Calls: create, list, get, recommend, dispatch, share, close; CAD and gunshot webhooks."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from dfr.api.deps import (
    AccessDep,
    AfterId,
    CallId,
    OpsDep,
    PageSize,
    PrincipalDep,
    check_call_scope,
    next_page,
    require,
)
from dfr.api.errors import answers
from dfr.api.schemas import (
    CadCallIn,
    CallIn,
    CallOut,
    DispatchIn,
    DispatchOut,
    GunshotAlertIn,
    OverwatchIn,
    RecommendationOut,
    ShareLinkInfo,
    ShareLinkOut,
)
from dfr.api.views import call_out, dispatch_out, recommendation_out
from dfr.auth import Principal, Role
from dfr.store import NewCall
from missions.geo import GeoPoint

router = APIRouter(prefix="/api", tags=["calls"])
REPEAT: dict[int | str, dict[str, Any]] = {
    200: {"model": CallOut, "description": "sent before: the call already stored"},
    **answers(400, 401, 413, 422, 503),
}
Creator = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.ADMIN))]
Sender = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT))]
Sharer = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.RTCC))]


@router.post(
    "/calls", status_code=201, response_model=CallOut, responses=answers(400, 401, 403, 413, 422)
)
async def create_call(body: CallIn, ops: OpsDep, who: Creator) -> CallOut:
    call = await ops.calls.create_call(
        NewCall(
            body.latitude_deg,
            body.longitude_deg,
            body.priority,
            body.source,
            body.summary,
            body.external_id,
            body.call_type,
            overwatch=body.overwatch,
            agency=who.agency,
        ),
        who.name,
    )
    return call_out(call)


@router.put(
    "/calls/{call_id}/overwatch",
    response_model=CallOut,
    responses=answers(400, 401, 403, 404, 409, 413, 422),
)
async def set_overwatch(call_id: CallId, body: OverwatchIn, ops: OpsDep, who: Sender) -> CallOut:
    """Keep the call watched drone after drone until it is closed (or stop); 409 for a
    closed call."""
    await ops.scope.visible_call(who, call_id)
    return call_out(await ops.calls.set_overwatch(call_id, body.overwatch, who.name))


@router.get("/calls", response_model=list[CallOut], responses=answers(401, 422))
async def list_calls(
    ops: OpsDep,
    who: PrincipalDep,
    response: Response,
    status: Annotated[list[Annotated[str, Query(max_length=20)]] | None, Query()] = None,
    after_id: AfterId = 0,
    limit: PageSize = 500,
) -> list[CallOut]:
    """Calls in id order, a page at a time: a full page names the next cursor in the
    X-Next-After-Id header."""
    calls = await ops.calls.list_calls(who, status, after_id, limit)
    next_page(response, [c.id for c in calls], limit)
    return [call_out(c) for c in calls]


@router.get("/calls/{call_id}", response_model=CallOut, responses=answers(401, 403, 404, 422))
async def get_call(call_id: CallId, ops: OpsDep, who: PrincipalDep) -> CallOut:
    check_call_scope(who, call_id)
    return call_out(await ops.scope.visible_call(who, call_id))


@router.get(
    "/calls/{call_id}/recommendation",
    response_model=RecommendationOut,
    responses=answers(401, 403, 404, 422),
)
async def recommend_call(call_id: CallId, ops: OpsDep, who: PrincipalDep) -> RecommendationOut:
    check_call_scope(who, call_id)
    await ops.scope.visible_call(who, call_id)
    return recommendation_out(await ops.recommend_call(call_id))


@router.post(
    "/calls/{call_id}/dispatch",
    response_model=DispatchOut,
    responses=answers(400, 401, 403, 404, 409, 413, 422),
)
async def dispatch_call(
    call_id: CallId, ops: OpsDep, who: Sender, body: DispatchIn | None = None
) -> DispatchOut:
    await ops.scope.visible_call(who, call_id)
    result = await ops.dispatch(call_id, who, body.station_id if body else None)
    return dispatch_out(result)


@router.post(
    "/calls/{call_id}/close", response_model=CallOut, responses=answers(401, 403, 404, 422)
)
async def close_call(call_id: CallId, ops: OpsDep, who: Sender) -> CallOut:
    await ops.scope.visible_call(who, call_id)
    return call_out(await ops.calls.close_call(call_id, who.name))


@router.post(
    "/calls/{call_id}/share",
    status_code=201,
    response_model=ShareLinkOut,
    responses=answers(401, 403, 404, 422),
)
async def share_call(
    call_id: CallId, request: Request, access: AccessDep, ops: OpsDep, who: Sharer
) -> ShareLinkOut:
    """A link for an officer's phone: this call's drone, video and map, nothing else. It
    stops working when it expires, is revoked, or the call is closed."""
    await ops.scope.visible_call(who, call_id)
    link_id, token = await access.share_call(call_id, who)
    # In the fragment: the browser keeps it, no server or proxy log ever sees it.
    url = str(request.base_url).rstrip("/") + f"/officer#token={token}"
    return ShareLinkOut(id=link_id, url=url, token=token, expires_in_s=access.share_link_ttl_s)


@router.get(
    "/calls/{call_id}/share-links",
    response_model=list[ShareLinkInfo],
    responses=answers(401, 403, 404, 422),
)
async def share_links(
    call_id: CallId, access: AccessDep, ops: OpsDep, who: Sharer
) -> list[ShareLinkInfo]:
    """The call's share links: who issued them, when, and whether they were revoked."""
    await ops.scope.visible_call(who, call_id)
    return [ShareLinkInfo(**asdict(link)) for link in await access.share_links(call_id)]


@router.delete(
    "/share-links/{link_id}", response_model=ShareLinkInfo, responses=answers(401, 403, 404, 422)
)
async def revoke_share_link(
    link_id: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$")],
    access: AccessDep,
    ops: OpsDep,
    who: Sharer,
) -> ShareLinkInfo:
    """Revoke a share link: the officer's page stops at its next request."""
    await ops.scope.visible_share_link(who, link_id)
    return ShareLinkInfo(**asdict(await access.revoke_share_link(link_id, who)))


@router.get(
    "/recommend",
    response_model=RecommendationOut,
    tags=["dispatch"],
    responses=answers(401, 403, 422),
)
async def recommend_point(
    ops: OpsDep,
    who: Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.ADMIN))],
    latitude_deg: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    longitude_deg: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
) -> RecommendationOut:
    return recommendation_out(await ops.recommend_point(GeoPoint(latitude_deg, longitude_deg)))


@router.post(
    "/webhooks/cad",
    status_code=201,
    response_model=CallOut,
    tags=["webhooks"],
    responses=REPEAT,
)
async def cad_webhook(
    body: CadCallIn,
    ops: OpsDep,
    response: Response,
    x_dfr_token: Annotated[str | None, Header()] = None,
) -> CallOut:
    """A CAD incident; sent again (same incident_id), it answers 200 with the same call."""
    agency = ops.check_webhook(x_dfr_token)
    call = NewCall(
        body.latitude,
        body.longitude,
        body.priority,
        "cad",
        body.nature,
        body.incident_id,
        body.call_type,
        agency=agency,
    )
    return await _intake(ops, call, "cad", response)


@router.post(
    "/webhooks/gunshot",
    status_code=201,
    response_model=CallOut,
    tags=["webhooks"],
    responses=REPEAT,
)
async def gunshot_webhook(
    body: GunshotAlertIn,
    ops: OpsDep,
    response: Response,
    x_dfr_token: Annotated[str | None, Header()] = None,
) -> CallOut:
    """A gunshot alert; sent again (same alert_id), it answers 200 with the same call. A
    new alert is put to the deployment's launch policies at once: the call answered says
    what they did (`policy`, `policy_outcome`, `policy_reason`)."""
    agency = ops.check_webhook(x_dfr_token)
    summary = f"gunshot alert: {body.rounds} round(s), confidence {body.confidence:.0%}"
    call = NewCall(
        body.latitude,
        body.longitude,
        1,
        "gunshot",
        summary,
        body.alert_id,
        call_type="gunshot",
        confidence=body.confidence,
        rounds=body.rounds,
        agency=agency,
    )
    return await _intake(ops, call, "gunshot-sensor", response)


async def _intake(ops: OpsDep, call: NewCall, actor: str, response: Response) -> CallOut:
    """201 with the new call; 200 with the stored one when the sender retries."""
    record, created = await ops.calls.take_external_call(call, actor)
    if not created:
        response.status_code = 200
    return call_out(record)
