"""Stations and drones: live state, pilot commands, launch and launch confirmation, sorties."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from dfr.api.deps import (
    AfterId,
    CallId,
    OpsDep,
    PageSize,
    PrincipalDep,
    SortieId,
    check_call_scope,
    next_page,
    require,
)
from dfr.api.errors import answers
from dfr.api.schemas import (
    CommandIn,
    DispatchOut,
    EtaCalibrationOut,
    LaunchIn,
    MaintenanceIn,
    SortieOut,
    TrackPointOut,
)
from dfr.api.views import dispatch_out, sortie_out
from dfr.auth import CAN_WATCH_ALL, Principal, Role
from dfr.pilot_commands import PilotCommand
from missions.geo import GeoPoint

router = APIRouter(prefix="/api", tags=["fleet"])
Commander = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT))]
Pilot = Annotated[Principal, Depends(require(Role.PILOT))]
Maintainer = Annotated[Principal, Depends(require(Role.PILOT, Role.ADMIN))]
Watcher = Annotated[Principal, Depends(require(*CAN_WATCH_ALL))]
Custodian = Annotated[Principal, Depends(require(Role.RTCC, Role.ADMIN))]


@router.get("/stations", responses=answers(401, 422))
async def stations(ops: OpsDep, who: PrincipalDep) -> list[dict[str, Any]]:
    """Every station with its drone's live state (officers: only the drone on their call)."""
    return ops.views.stations_view(who)


@router.post("/stations/{station_id}/maintenance", responses=answers(400, 401, 403, 404, 413, 422))
async def maintenance(
    station_id: str, body: MaintenanceIn, ops: OpsDep, who: Maintainer
) -> dict[str, Any]:
    """Take a station's drone out of service (it is not recommended) or put it back."""
    ops.scope.check_station(who, station_id)
    return await ops.set_maintenance(station_id, body.on, who)


@router.post(
    "/drones/{drone_id}/commands", responses=answers(400, 401, 403, 404, 409, 413, 422, 503)
)
async def command(drone_id: str, body: CommandIn, ops: OpsDep, who: Commander) -> dict[str, Any]:
    """hold, resume, orbit (radius_m), reposition (latitude/longitude), return, land, abort."""
    await ops.scope.check_commander(who, drone_id, body.command)
    point = None
    if body.latitude_deg is not None and body.longitude_deg is not None:
        point = GeoPoint(body.latitude_deg, body.longitude_deg)
    command = PilotCommand(body.command, body.radius_m, point, body.relative_altitude_m)
    return await ops.command(drone_id, command, who)


@router.get(
    "/drones/{drone_id}/eta-calibration",
    response_model=EtaCalibrationOut,
    responses=answers(401, 403, 404, 422),
)
async def eta_calibration(drone_id: str, ops: OpsDep, who: Watcher) -> EtaCalibrationOut:
    """The ETA figures the drone is ranked by: fitted to its own flights once enough of
    them flew straight to their scene (`[eta] calibrate_after_flights`), else the
    deployment's `[eta]` figures."""
    ops.scope.check_drone(who, drone_id)
    return EtaCalibrationOut(**ops.eta_calibration(drone_id))


@router.post(
    "/launch", response_model=DispatchOut, responses=answers(400, 401, 403, 404, 409, 413, 422)
)
async def launch(body: LaunchIn, ops: OpsDep, who: Commander) -> DispatchOut:
    """Launch a station's drone to a queued call, or to a point for a purpose (training,
    maintenance_test, pre_planned_event), which becomes a call carrying it."""
    ops.scope.check_station(who, body.station_id)
    if body.call_id is not None:
        await ops.scope.visible_call(who, body.call_id)
    point = None
    if body.latitude_deg is not None and body.longitude_deg is not None:
        point = GeoPoint(body.latitude_deg, body.longitude_deg)
    return dispatch_out(await ops.launch(body.station_id, who, body.call_id, point, body.purpose))


@router.post(
    "/sorties/{sortie_id}/confirm",
    response_model=SortieOut,
    responses=answers(401, 403, 404, 409, 422),
)
async def confirm(sortie_id: SortieId, ops: OpsDep, who: Pilot) -> SortieOut:
    """The pilot in command confirms a launch a dispatcher asked for (pilot_confirm policy)."""
    return sortie_out(await ops.confirm_launch(sortie_id, who))


@router.get("/sorties", response_model=list[SortieOut], responses=answers(401, 403, 422))
async def sorties(
    ops: OpsDep,
    who: Watcher,
    response: Response,
    after_id: AfterId = 0,
    limit: PageSize = 500,
    active: Annotated[bool, Query(description="only sorties not yet ended")] = False,
) -> list[SortieOut]:
    """Sorties in id order, a page at a time (X-Next-After-Id names the next cursor)."""
    records = await ops.records.list_sorties(after_id, limit, active, who)
    next_page(response, [r.id for r in records], limit)
    return [sortie_out(r) for r in records]


@router.get("/sorties/{sortie_id}", response_model=SortieOut, responses=answers(401, 403, 404, 422))
async def sortie(sortie_id: SortieId, ops: OpsDep, who: PrincipalDep) -> SortieOut:
    record = await ops.records.get_sortie(sortie_id)
    check_call_scope(who, record.call_id)
    await ops.scope.visible_sortie(who, sortie_id)
    return sortie_out(record)


@router.get(
    "/sorties/{sortie_id}/track",
    response_model=list[TrackPointOut],
    responses=answers(401, 403, 404, 422),
)
async def sortie_track(sortie_id: SortieId, ops: OpsDep, who: Watcher) -> list[TrackPointOut]:
    """Where the sortie's drone flew, once a second: UTC and vehicle time, position,
    altitude above mean sea level and above the station, heading, ground speed, flight
    mode, battery and the camera's target."""
    await ops.scope.visible_sortie(who, sortie_id)
    return [TrackPointOut(**asdict(p)) for p in await ops.records.sortie_track(sortie_id)]


@router.get("/sorties/{sortie_id}/plan", responses=answers(401, 403, 404, 422))
async def sortie_plan(sortie_id: SortieId, ops: OpsDep, who: Watcher) -> JSONResponse:
    """The sortie's mission, fence and rally point (its dock) as a QGroundControl `.plan`
    file: the items as read back from the vehicle."""
    await ops.scope.visible_sortie(who, sortie_id)
    plan = await ops.records.sortie_plan(sortie_id)
    disposition = f'attachment; filename="dfr-sortie-{sortie_id}.plan"'
    return JSONResponse(plan, headers={"Content-Disposition": disposition})


@router.get(
    "/sorties/{sortie_id}/evidence",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/zip": {}}, "description": "the signed package"},
        **answers(401, 403, 404, 422),
    },
)
async def sortie_evidence(sortie_id: SortieId, ops: OpsDep, who: Custodian) -> FileResponse:
    """The sortie's evidence package: a zip with the call, the timeline, the track, the
    mission and fence as uploaded and read back, the audit entries, who watched, the
    recordings, and a manifest of SHA-256s signed with the server's Ed25519 key
    (`dfr evidence verify` checks it). Audited."""
    path = await ops.records.evidence_package(sortie_id, who)
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"dfr-sortie-{sortie_id}-evidence.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


@router.get(
    "/calls/{call_id}/sortie",
    response_model=SortieOut | None,
    responses=answers(401, 403, 404, 422),
)
async def call_sortie(call_id: CallId, ops: OpsDep, who: PrincipalDep) -> SortieOut | None:
    check_call_scope(who, call_id)
    if who.agencies is not None:
        await ops.scope.visible_call(who, call_id)
    record = await ops.records.sortie_for_call(call_id)
    return sortie_out(record) if record else None
