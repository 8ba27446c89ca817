"""The track of every sortie in flight, sampled once a second into the store: where the
drone was, how high, how fast, in which mode, on what charge and looking at what.
The evidence package and the public flight log are drawn from it."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from dfr.active_sorties import SortieBoard
from dfr.store import Store, TrackPoint
from missions.drone_state import DroneState
from stations.fleet import Fleet

log = logging.getLogger(__name__)


def track_point(
    sortie_id: int,
    state: DroneState,
    target: tuple[float, float] | None,
    now: datetime,
) -> TrackPoint | None:
    """The sample `state` gives, or None before the drone has a position."""
    pos = state.position
    if pos is None:
        return None
    return TrackPoint(
        sortie_id=sortie_id,
        at_utc=now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        vehicle_s=state.vehicle_time_s,
        latitude_deg=pos.latitude_deg,
        longitude_deg=pos.longitude_deg,
        alt_amsl_m=round(pos.absolute_altitude_m, 2),
        alt_above_station_m=round(pos.relative_altitude_m, 2),
        heading_deg=None if state.heading_deg is None else round(state.heading_deg, 1),
        ground_speed_m_s=(
            None if state.ground_speed_m_s is None else round(state.ground_speed_m_s, 2)
        ),
        flight_mode=str(state.flight_mode),
        battery_pct=None if state.battery_pct is None else round(state.battery_pct, 1),
        target_latitude_deg=None if target is None else target[0],
        target_longitude_deg=None if target is None else target[1],
    )


async def record_tracks(
    board: SortieBoard, fleet: Fleet, store: Store, period_s: float = 1.0
) -> None:
    """Sample every launched sortie on the board each `period_s`, until cancelled."""
    while True:
        started = asyncio.get_running_loop().time()
        now = datetime.now(UTC)
        points = []
        for active in board:
            if active.executor is None:
                continue  # not launched: nothing flies yet
            poi = active.route.point_of_interest
            target = (poi.latitude_deg, poi.longitude_deg)
            point = track_point(active.record.id, fleet.state(active.station.id), target, now)
            if point is not None:
                points.append(point)
        if points:
            try:
                await store.add_track_points(points)
            except Exception:  # noqa: BLE001 - a missed second must not end the recording
                log.exception("could not store %d track point(s)", len(points))
        elapsed = asyncio.get_running_loop().time() - started
        await asyncio.sleep(max(0.0, period_s - elapsed))
