"""Fixed cameras: those covering a call's scene, and those near a point (consoles only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from dfr.api.deps import CallId, OpsDep, require
from dfr.api.errors import answers
from dfr.api.schemas import CameraOut
from dfr.auth import Principal, Role
from missions.geo import GeoPoint

router = APIRouter(prefix="/api", tags=["cameras"])
# Officers' share links see their call's drone, not the city's cameras.
Watcher = Annotated[Principal, Depends(require(Role.DISPATCHER, Role.PILOT, Role.RTCC, Role.ADMIN))]


@router.get(
    "/calls/{call_id}/cameras",
    response_model=list[CameraOut],
    responses=answers(401, 403, 404, 422),
)
async def call_cameras(call_id: CallId, ops: OpsDep, who: Watcher) -> list[CameraOut]:
    """The fixed cameras whose view covers the call's scene, nearest first."""
    await ops.scope.visible_call(who, call_id)
    views = await ops.call_cameras(call_id)
    return [CameraOut(**view) for view in views if ops.scope.sees_camera(who, view["id"])]


@router.get("/cameras", response_model=list[CameraOut], responses=answers(401, 403, 422))
async def cameras_near(
    ops: OpsDep,
    who: Watcher,
    latitude_deg: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    longitude_deg: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    within_m: Annotated[float, Query(gt=0, le=10_000, allow_inf_nan=False)] = 1000.0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[CameraOut]:
    """The fixed cameras within `within_m` of the point, whatever they look at, nearest
    first."""
    point = GeoPoint(latitude_deg, longitude_deg)
    views = ops.cameras_near(point, within_m, limit)
    return [CameraOut(**view) for view in views if ops.scope.sees_camera(who, view["id"])]
