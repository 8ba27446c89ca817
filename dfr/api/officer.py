"""Officers' "drone to me": ask for a drone at the phone's position, see the request,
send updated positions for follow me. Officer accounts only (never a share link)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from dfr.api.deps import CallId, Denied, OpsDep, PrincipalDep
from dfr.api.errors import answers
from dfr.api.schemas import CallOut, FollowOut, OfficerPositionIn, OfficerRequestIn
from dfr.api.views import call_out
from dfr.auth import Principal, Role
from dfr.officer_requests import PositionFix
from missions.geo import GeoPoint

router = APIRouter(prefix="/api/officer", tags=["officer"])


def officer_account(who: PrincipalDep) -> Principal:
    """A signed-in officer (403 for every other role, and for a share link)."""
    if who.role is not Role.OFFICER:
        raise Denied(403, f"{who.role} may not do this: needs officer", who.name)
    if who.share_link:
        raise Denied(
            403, "a share link cannot ask for a drone: log in with an officer account", who.name
        )
    return who


Officer = Annotated[Principal, Depends(officer_account)]


@router.post(
    "/requests",
    status_code=201,
    response_model=CallOut,
    responses=answers(400, 401, 403, 409, 413, 422, 429),
)
async def request_drone(body: OfficerRequestIn, ops: OpsDep, who: Officer) -> CallOut:
    """ "Drone to me": a call at the phone's position (source `officer`, you its
    requester), put to the deployment's launch policies as any new call. Refused: a fix
    less sure than the deployment's bound or outside the operational area (422), while
    your last request is open (409, naming its call), or asked again too soon (429)."""
    fix = PositionFix(GeoPoint(body.latitude_deg, body.longitude_deg), body.accuracy_m)
    return call_out(await ops.officers.request(who.name, fix, body.priority, body.note, who.agency))


@router.get("/requests/open", response_model=CallOut | None, responses=answers(401, 403, 422))
async def open_request(ops: OpsDep, who: Officer) -> CallOut | None:
    """Your request while it is open (null when none is)."""
    call = await ops.officers.open_request(who.name)
    return call_out(call) if call is not None else None


@router.post(
    "/requests/{call_id}/cancel",
    response_model=CallOut,
    responses=answers(401, 403, 404, 409, 422),
)
async def cancel_request(call_id: CallId, ops: OpsDep, who: Officer) -> CallOut:
    """You no longer need the drone you asked for: a launch held for the pilot is
    withdrawn, a drone on its way or on scene flies home, and the call is closed (409
    once closed; 403 for a call you did not ask for)."""
    return call_out(await ops.cancel_officer_request(who.name, call_id))


@router.post(
    "/requests/{call_id}/position",
    response_model=FollowOut,
    responses=answers(400, 401, 403, 404, 413, 422, 503),
)
async def update_position(
    call_id: CallId, body: OfficerPositionIn, ops: OpsDep, who: Officer, response: Response
) -> FollowOut:
    """Your updated position for your request, and whether the drone should follow you
    (`follow`). On scene, the drone is repositioned to you within the deployment's
    bounds; the answer says what happened, or why not (e.g. a no-fly zone)."""
    fix = PositionFix(GeoPoint(body.latitude_deg, body.longitude_deg), body.accuracy_m)
    result = await ops.officers.update_position(who.name, call_id, fix, body.follow)
    target = result.target
    return FollowOut(
        follow=result.follow,
        outcome=result.outcome.value,
        reason=result.reason,
        target_latitude_deg=target.latitude_deg if target else None,
        target_longitude_deg=target.longitude_deg if target else None,
    )
