"""Rank every station for a call by estimated time on scene, explaining each exclusion."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from dfr.deployment import Deployment
from dfr.eta import EtaBreakdown, EtaParameters, estimate, return_time_s, straight_line_time_s
from missions.geo import GeoPoint
from missions.route import Route
from stations.profile import Station


@dataclass(frozen=True, slots=True)
class DroneAvailability:
    """What the fleet and the store know of a station's drone right now."""

    online: bool = True
    docked: bool = True
    healthy: bool = True
    maintenance: bool = False
    battery_pct: float = 100.0
    sortie_id: str | None = None  # reserved or flying for this sortie


ALL_READY = DroneAvailability()


@dataclass(frozen=True, slots=True)
class Candidate:
    station_id: str
    drone_id: str
    eta_s: float
    distance_m: float
    route: Route
    eta: EtaBreakdown
    battery_needed_pct: float

    def as_json(self) -> dict:
        return {
            "station_id": self.station_id,
            "drone_id": self.drone_id,
            "eta_s": round(self.eta_s, 1),
            "distance_m": round(self.distance_m, 1),
            "battery_needed_pct": round(self.battery_needed_pct, 1),
            "standoff": self.route.standoff,
            "route": self.route.as_geojson(),
        }


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A station that cannot take the call; `lasting` when waiting will not help."""

    station_id: str
    drone_id: str
    reason: str
    lasting: bool = False

    def as_json(self) -> dict:
        return {"station_id": self.station_id, "drone_id": self.drone_id, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Recommendation:
    """Candidates by ascending ETA; stations that cannot go, with the reason."""

    scene: GeoPoint
    candidates: tuple[Candidate, ...]
    excluded: tuple[Exclusion, ...] = field(default=())

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def as_json(self) -> dict:
        return {
            "candidates": [c.as_json() for c in self.candidates],
            "excluded": [e.as_json() for e in self.excluded],
        }


def recommend(
    deployment: Deployment,
    scene: GeoPoint,
    availability: Mapping[str, DroneAvailability] | None = None,
    params: EtaParameters | None = None,
    on_scene_s: float | None = None,
) -> Recommendation:
    """Rank the deployment's stations for a call at `scene`.

    `availability` is keyed by station id; a station missing from it is taken
    as ready (docked, healthy, full battery).
    """
    params = params or deployment.eta
    on_scene_s = deployment.defaults.on_scene_s if on_scene_s is None else on_scene_s
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for station in deployment.stations:
        state = (availability or {}).get(station.id, ALL_READY)
        result = _assess(deployment, station, state, scene, params, on_scene_s)
        (candidates if isinstance(result, Candidate) else excluded).append(result)
    candidates.sort(key=lambda c: (c.eta_s, c.station_id))
    return Recommendation(scene, tuple(candidates), tuple(excluded))


def _assess(
    deployment: Deployment,
    station: Station,
    state: DroneAvailability,
    scene: GeoPoint,
    params: EtaParameters,
    on_scene_s: float,
) -> Candidate | Exclusion:
    drone = station.drone

    def out(reason: str, lasting: bool = False) -> Exclusion:
        return Exclusion(station.id, drone.id, reason, lasting)

    if not state.online:
        return out("drone offline: no MAVLink link")
    if state.maintenance:
        return out("drone in maintenance")
    if state.sortie_id is not None:
        return out(f"drone not docked: on sortie {state.sortie_id}")
    if not state.docked:
        return out("drone not docked")
    if not state.healthy:
        return out("drone not healthy: preflight checks failing")

    reserve = deployment.defaults.reserve_pct
    usable_pct = 100.0 - reserve
    straight_m = station.position.distance_m(scene)
    lower_s = 2 * straight_line_time_s(straight_m, drone, params) + on_scene_s
    if 100.0 * lower_s / drone.endurance_s > usable_pct:
        return out(
            f"out of range: {straight_m / 1000:.1f} km away, beyond the "
            f"{drone.endurance_s:.0f} s endurance with {on_scene_s:.0f} s on scene "
            f"and {reserve:.0f}% reserve",
            lasting=True,
        )

    plan = deployment.planner.plan(station.position, scene, with_fence=False)
    if plan.route is None:
        return out(plan.reason or "no permitted route", lasting=True)
    route = plan.route
    eta = estimate(route, drone, params)
    flight_s = eta.flight_s + on_scene_s + return_time_s(route, drone, params)
    needed_pct = 100.0 * flight_s / drone.endurance_s
    if needed_pct > usable_pct:
        return out(
            f"out of range: the {route.length_m / 1000:.1f} km route needs {needed_pct:.0f}% "
            f"of a full battery plus {reserve:.0f}% reserve",
            lasting=True,
        )
    if state.battery_pct - needed_pct < reserve:
        return out(
            f"battery {state.battery_pct:.0f}% below the {needed_pct + reserve:.0f}% this call "
            f"needs (out, {on_scene_s:.0f} s on scene, back, {reserve:.0f}% reserve)"
        )
    return Candidate(
        station_id=station.id,
        drone_id=drone.id,
        eta_s=eta.total_s,
        distance_m=route.length_m,
        route=route,
        eta=eta,
        battery_needed_pct=needed_pct,
    )
