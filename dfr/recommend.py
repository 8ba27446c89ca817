"""Rank every station for a call by estimated time on scene, explaining each exclusion."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from dfr.agencies import MutualAid
from dfr.deployment import Deployment
from dfr.eta import (
    EtaBreakdown,
    EtaParameters,
    airborne_estimate,
    estimate,
    return_time_s,
    straight_line_time_s,
    straight_return_time_s,
)
from dfr.eta_calibration import DroneEta
from missions.geo import GeoPoint
from missions.profile import Station
from missions.route import Route


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
class AirborneDrone:
    """A drone flying a sortie that could be re-tasked: where it is and what it does."""

    sortie_id: int
    sortie_state: str  # "en_route", "on_scene", "returning"
    call_id: int | None
    call_priority: int | None
    position: GeoPoint
    altitude_m: float  # above its home
    velocity_north_m_s: float
    velocity_east_m_s: float
    battery_pct: float

    def retaskable_for(self, priority: int | None) -> bool:
        """Returning from a call, or on scene at one less urgent than `priority`."""
        if self.sortie_state == "returning":
            return True
        return (
            self.sortie_state == "on_scene"
            and priority is not None
            and (self.call_priority is None or priority < self.call_priority)
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    station_id: str
    drone_id: str
    eta_s: float
    distance_m: float
    route: Route
    eta: EtaBreakdown
    battery_needed_pct: float
    #: Whether the ETA comes from figures fitted to this drone's own flights, and how many.
    eta_calibrated: bool = False
    eta_flights: int = 0
    #: Already flying this sortie: dispatching it re-tasks the drone in flight.
    retask_sortie_id: int | None = None
    retask_from_call_id: int | None = None
    #: The agency owning the drone (None: the implicit one) and, for a drone of another
    #: agency than the call's, the mutual-aid rule it flies by (dfr.agencies).
    agency: str | None = None
    mutual_aid: MutualAid | None = None

    @property
    def airborne(self) -> bool:
        return self.retask_sortie_id is not None

    def as_json(self) -> dict:
        return {
            "station_id": self.station_id,
            "drone_id": self.drone_id,
            "airborne": self.airborne,
            "retask_sortie_id": self.retask_sortie_id,
            "retask_from_call_id": self.retask_from_call_id,
            "eta_s": round(self.eta_s, 1),
            "eta_calibrated": self.eta_calibrated,
            "eta_flights": self.eta_flights,
            "distance_m": round(self.distance_m, 1),
            "battery_needed_pct": round(self.battery_needed_pct, 1),
            "standoff": self.route.standoff,
            "route": self.route.as_geojson(),
            "altitude_m": self.route.cruise_altitude_m,
            "altitude_limit": self.route.altitude_limit,
            "agency": self.agency,
            "mutual_aid": str(self.mutual_aid) if self.mutual_aid is not None else None,
        }


class ExclusionKind(StrEnum):
    """Why a station cannot take a call: what the dispatcher decides on."""

    OFFLINE = "offline"
    MAINTENANCE = "maintenance"
    ON_SORTIE = "on_sortie"
    NOT_DOCKED = "not_docked"
    UNHEALTHY = "unhealthy"
    BEYOND_ENDURANCE = "beyond_endurance"
    ROUTE_TOO_LONG = "route_too_long"
    NO_ROUTE = "no_route"
    LOW_BATTERY = "low_battery"

    @property
    def lasting(self) -> bool:
        """Waiting will not change it: the airspace or the distance, not the drone."""
        return self in _LASTING


_LASTING = frozenset(
    {ExclusionKind.BEYOND_ENDURANCE, ExclusionKind.ROUTE_TOO_LONG, ExclusionKind.NO_ROUTE}
)
_TEXT = {
    ExclusionKind.OFFLINE: "drone offline: no MAVLink link",
    ExclusionKind.MAINTENANCE: "drone in maintenance",
    ExclusionKind.ON_SORTIE: "drone not docked: on sortie {sortie_id}",
    ExclusionKind.NOT_DOCKED: "drone not docked",
    ExclusionKind.UNHEALTHY: "drone not healthy: preflight checks failing",
    ExclusionKind.BEYOND_ENDURANCE: "out of range: {distance_km:.1f} km away, beyond the "
    "{endurance_s:.0f} s endurance with {on_scene_s:.0f} s on scene and {reserve_pct:.0f}% reserve",
    ExclusionKind.ROUTE_TOO_LONG: "out of range: the {route_km:.1f} km route needs "
    "{needed_pct:.0f}% of a full battery plus {reserve_pct:.0f}% reserve",
    ExclusionKind.NO_ROUTE: "{planner_reason}",
    ExclusionKind.LOW_BATTERY: "battery {battery_pct:.0f}% below the {required_pct:.0f}% this "
    "call needs (out, {on_scene_s:.0f} s on scene, back, {reserve_pct:.0f}% reserve)",
}


@dataclass(frozen=True, slots=True)
class Exclusion:
    """A station that cannot take the call: the kind, and the figures its text names.

    >>> Exclusion("hq", "dfr-1", ExclusionKind.ON_SORTIE, {"sortie_id": 7}).reason
    'drone not docked: on sortie 7'
    """

    station_id: str
    drone_id: str
    kind: ExclusionKind
    facts: Mapping[str, float | int | str] = field(default_factory=dict)

    @property
    def lasting(self) -> bool:
        return self.kind.lasting

    @property
    def reason(self) -> str:
        return _TEXT[self.kind].format(**self.facts)

    def as_json(self) -> dict:
        return {
            "station_id": self.station_id,
            "drone_id": self.drone_id,
            "kind": str(self.kind),
            "reason": self.reason,
        }


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
    drone_eta: Mapping[str, DroneEta] | None = None,
    airborne: Mapping[str, AirborneDrone] | None = None,
    priority: int | None = None,
    agency: str | None = None,
) -> Recommendation:
    """Rank the deployment's stations for a call at `scene`.

    `availability` is keyed by station id; a station missing from it is taken
    as ready (docked, healthy, full battery). `drone_eta` is each drone's own ETA
    figures, by drone id; a drone missing from it is ranked by `params` (by default
    the deployment's). `airborne`, by station id: drones flying a sortie; one that
    is returning, or on scene at a call less urgent than `priority`, is ranked from
    where it is, as it moves, with the battery it has left.

    With agencies, `agency` is the call's (by default, whose jurisdiction the scene is
    in): its own drones are ranked, and other agencies' whose mutual-aid rule into it is
    not `never`, each marked with its agency and rule; the rest are not listed at all.
    """
    agencies = deployment.agencies
    if agencies and agency is None:
        agency = agencies.agency_at(scene)
    default = DroneEta(params or deployment.eta)
    on_scene_s = deployment.defaults.on_scene_s if on_scene_s is None else on_scene_s
    candidates: list[Candidate] = []
    excluded: list[Exclusion] = []
    for station in deployment.stations:
        owner = agencies.of_station(station.id)
        rule = agencies.rule(owner, agency)
        if rule is MutualAid.NEVER:
            continue
        state = (availability or {}).get(station.id, ALL_READY)
        eta = (drone_eta or {}).get(station.drone.id, default)
        flying = (airborne or {}).get(station.id)
        if flying is not None and state.sortie_id is not None and state.online:
            # Another agency's drone in the air is never re-tasked to this call: mutual
            # aid sends a drone from its dock, held for its pilot where the rule says so.
            result = (
                _assess_airborne(deployment, station, flying, scene, eta, on_scene_s)
                if flying.retaskable_for(priority) and owner == agency
                else Exclusion(
                    station.id, station.drone.id, ExclusionKind.ON_SORTIE,
                    {"sortie_id": state.sortie_id},
                )
            )  # fmt: skip
        else:
            result = _assess(deployment, station, state, scene, eta, on_scene_s)
        if isinstance(result, Candidate):
            candidates.append(
                replace(result, agency=owner, mutual_aid=rule if owner != agency else None)
            )
        else:
            excluded.append(result)
    candidates.sort(key=lambda c: (c.eta_s, c.station_id))
    return Recommendation(scene, tuple(candidates), tuple(excluded))


def _assess(
    deployment: Deployment,
    station: Station,
    state: DroneAvailability,
    scene: GeoPoint,
    drone_eta: DroneEta,
    on_scene_s: float,
) -> Candidate | Exclusion:
    drone = station.drone
    params = drone_eta.params

    def out(kind: ExclusionKind, **facts: float | int | str) -> Exclusion:
        return Exclusion(station.id, drone.id, kind, facts)

    if not state.online:
        return out(ExclusionKind.OFFLINE)
    if state.maintenance:
        return out(ExclusionKind.MAINTENANCE)
    if state.sortie_id is not None:
        return out(ExclusionKind.ON_SORTIE, sortie_id=state.sortie_id)
    if not state.docked:
        return out(ExclusionKind.NOT_DOCKED)
    if not state.healthy:
        return out(ExclusionKind.UNHEALTHY)

    reserve = deployment.defaults.reserve_pct
    usable_pct = 100.0 - reserve
    straight_m = station.position.distance_m(scene)
    lower_s = 2 * straight_line_time_s(straight_m, drone, params) + on_scene_s
    if 100.0 * lower_s / drone.endurance_s > usable_pct:
        return out(
            ExclusionKind.BEYOND_ENDURANCE,
            distance_km=straight_m / 1000,
            endurance_s=drone.endurance_s,
            on_scene_s=on_scene_s,
            reserve_pct=reserve,
        )

    plan = deployment.planner.plan(station.position, scene, with_fence=False)
    if plan.route is None:
        return out(ExclusionKind.NO_ROUTE, planner_reason=plan.reason or "no permitted route")
    route = plan.route
    eta = estimate(route, drone, params)
    flight_s = eta.flight_s + on_scene_s + return_time_s(route, drone, params)
    needed_pct = 100.0 * flight_s / drone.endurance_s
    if needed_pct > usable_pct:
        return out(
            ExclusionKind.ROUTE_TOO_LONG,
            route_km=route.length_m / 1000,
            needed_pct=needed_pct,
            reserve_pct=reserve,
        )
    return _with_battery(
        deployment, station, drone_eta, route, eta, needed_pct, state.battery_pct, on_scene_s
    )


def _assess_airborne(
    deployment: Deployment,
    station: Station,
    flying: AirborneDrone,
    scene: GeoPoint,
    drone_eta: DroneEta,
    on_scene_s: float,
) -> Candidate | Exclusion:
    """A flying drone: a route from where it is, the time from its present velocity, and
    the battery it has left for the way there, the time on scene and the way home."""
    drone = station.drone
    params = drone_eta.params
    plan = deployment.planner.plan(flying.position, scene, with_fence=False)
    if plan.route is None:
        reason = {"planner_reason": plan.reason or "no permitted route"}
        return Exclusion(station.id, drone.id, ExclusionKind.NO_ROUTE, reason)
    route = plan.route
    eta = airborne_estimate(
        route, drone, params, _along_first_leg(flying, route), flying.altitude_m
    )
    back_s = straight_return_time_s(
        scene.distance_m(station.position), route.cruise_altitude_m, drone, params
    )
    needed_pct = 100.0 * (eta.flight_s + on_scene_s + back_s) / drone.endurance_s
    return _with_battery(
        deployment, station, drone_eta, route, eta, needed_pct, flying.battery_pct, on_scene_s,
        retask_sortie_id=flying.sortie_id, retask_from_call_id=flying.call_id,
    )  # fmt: skip


def _with_battery(
    deployment: Deployment,
    station: Station,
    drone_eta: DroneEta,
    route: Route,
    eta: EtaBreakdown,
    needed_pct: float,
    battery_pct: float,
    on_scene_s: float,
    **retask: int | None,
) -> Candidate | Exclusion:
    """The candidate, or LOW_BATTERY when `battery_pct` less what the flight needs leaves
    less than the reserve."""
    reserve = deployment.defaults.reserve_pct
    if battery_pct - needed_pct < reserve:
        facts = {
            "battery_pct": battery_pct,
            "required_pct": needed_pct + reserve,
            "on_scene_s": on_scene_s,
            "reserve_pct": reserve,
        }
        return Exclusion(station.id, station.drone.id, ExclusionKind.LOW_BATTERY, facts)
    return Candidate(
        station_id=station.id,
        drone_id=station.drone.id,
        eta_s=eta.total_s,
        distance_m=route.length_m,
        route=route,
        eta=eta,
        battery_needed_pct=needed_pct,
        eta_calibrated=drone_eta.calibrated,
        eta_flights=drone_eta.flights,
        **retask,  # type: ignore[arg-type]
    )


def _along_first_leg(flying: AirborneDrone, route: Route) -> float:
    """The drone's speed along the route's first leg (negative: moving away from it)."""
    start, end = route.waypoints[0].point, route.waypoints[1].point
    if start.distance_m(end) < 0.01:
        return 0.0
    bearing = math.radians(start.bearing_deg(end))
    return flying.velocity_north_m_s * math.cos(bearing) + flying.velocity_east_m_s * math.sin(
        bearing
    )
