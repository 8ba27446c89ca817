"""Each drone's ETA figures, refitted from its own flown sorties (robustly).

A sortie counts as a sample when it flew straight to its scene: it took off and
reached the scene with nothing in between (no pilot command, no failsafe, no link
gap, no fence breach, no re-route, not taken over after a restart). What it
keeps is what the ETA model needs to replay the flight: the route's legs, turns
and cruise altitude, the drone's cruise speed and climb rate, and the measured
dispatch → takeoff and dispatch → on-scene times (vehicle seconds).

`refit` turns a drone's last `kept_flights` samples into its figures:

- fewer than `min_flights`: the deployment's `[eta]` figures, unchanged;
- launch latency: the median measured dispatch → takeoff;
- acceleration: a least-absolute-error fit first; then, among three flights or more
  (two that disagree have no majority), a flight is dropped whose
  arrival error lies more than `outlier_mads` scaled median absolute deviations
  from the median error, or more than `outlier_share` of its arrival time (the
  ETA's 10 % target), though never for less than `outlier_floor_s`; the rest are
  fitted by least squares (latency again their median);
- fewer than `min_flights` flights left after that: the deployment's figures;
- both figures are held within the policy's bounds.

Pure: no store, no event loop (`dfr.fleet_eta` keeps the figures and the samples).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dfr.eta import (
    EtaParameters,
    FlownSortie,
    estimate,
    fit_acceleration,
    route_legs_m,
)
from missions.geo import GeoPoint
from missions.profile import DroneProfile
from missions.route import Fence, Route
from missions.sortie import SortieEvent, SortieState, SortieTimeline, Transition

#: Sortie events that interrupt the way to the scene: the pilot's commands (`pilot_*`)
#: and what the vehicle or the link did by itself.
_INTERRUPTIONS = frozenset(
    {"failsafe", "link_lost", "fence_breach", "low_battery", "adopted", "disarm_failed"}
)
_STRAIGHT = [SortieState.LAUNCHING, SortieState.EN_ROUTE, SortieState.ON_SCENE]
#: The scaled median absolute deviation estimates the standard deviation of normal errors.
_MAD_TO_SIGMA = 1.4826
#: Fewer flights than this have no majority to call one of them an outlier.
_FEWEST_TO_JUDGE = 3


@dataclass(frozen=True, slots=True)
class CalibrationPolicy:
    """How a drone's figures follow its flights (`[eta]` in the deployment sets the first two)."""

    min_flights: int = 5
    kept_flights: int = 20
    latency_bounds_s: tuple[float, float] = (0.5, 30.0)
    accel_bounds_m_s2: tuple[float, float] = (0.5, 8.0)
    outlier_mads: float = 3.0
    outlier_floor_s: float = 2.0
    outlier_share: float = 0.1

    def __post_init__(self) -> None:
        if not 1 <= self.min_flights <= self.kept_flights:
            raise ValueError("need 1 <= min_flights <= kept_flights")


@dataclass(frozen=True, slots=True)
class FlownSample:
    """One sortie that flew straight to its scene, as the ETA model replays it."""

    drone_id: str
    sortie_id: int
    legs_m: tuple[float, ...]
    turns_deg: tuple[float, ...]
    cruise_altitude_m: float
    cruise_speed_m_s: float
    climb_m_s: float
    dispatch_to_takeoff_s: float
    dispatch_to_on_scene_s: float

    def replay(self) -> FlownSortie:
        """The flight as `dfr.eta.calibrate` takes it (a route of legs, no positions)."""
        # The model reads legs, turns and altitude only: the positions are not kept.
        route = Route(
            waypoints=(),
            length_m=sum(self.legs_m),
            fence=Fence(),
            point_of_interest=GeoPoint(0.0, 0.0),
            cruise_altitude_m=self.cruise_altitude_m,
            turn_angles_deg=self.turns_deg,
            legs_m=self.legs_m,
        )
        drone = DroneProfile(
            self.drone_id,
            "",
            max_speed_m_s=self.cruise_speed_m_s,
            cruise_speed_m_s=self.cruise_speed_m_s,
            climb_m_s=self.climb_m_s,
        )
        return FlownSortie(route, drone, self.dispatch_to_takeoff_s, self.dispatch_to_on_scene_s)


@dataclass(frozen=True, slots=True)
class DroneEta:
    """The ETA figures a drone is ranked by: its own once calibrated, else the deployment's.

    `flights` is how many flown sorties the figures were fitted to (0: the deployment's);
    `kept` how many samples the drone has.
    """

    params: EtaParameters
    calibrated: bool = False
    flights: int = 0
    kept: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "calibrated": self.calibrated,
            "flights": self.flights,
            "samples": self.kept,
            "launch_latency_s": round(self.params.launch_latency_s, 2),
            "horizontal_accel_m_s2": round(self.params.horizontal_accel_m_s2, 3),
        }


def interruption(
    timeline: SortieTimeline,
    transitions: Sequence[Transition],
    events: Sequence[SortieEvent],
) -> str | None:
    """Why a finished sortie's way to the scene cannot calibrate the ETA; None when it
    flew straight there."""
    if timeline.dispatch_to_takeoff_s is None or timeline.dispatch_to_on_scene_s is None:
        return "it did not take off and reach the scene"
    if timeline.final_state is SortieState.FAULT:
        return f"it ended in fault: {timeline.reason}"
    if any(e.kind == "retargeted" for e in events):
        return "it was sent to another scene in flight"
    outbound = []
    for step in transitions:
        outbound.append(step.to_state)
        if step.to_state is SortieState.ON_SCENE:
            break
    if outbound != _STRAIGHT:
        return "it did not fly straight to the scene: " + " → ".join(map(str, outbound))
    for event in events:
        t = event.vehicle_time_s
        if t is not None and timeline.on_scene_s is not None and t > timeline.on_scene_s:
            break
        if event.kind.startswith("pilot_") or event.kind in _INTERRUPTIONS:
            return f"{event.kind} before the scene"
    return None


def flown_sample(
    drone_id: str,
    sortie_id: int,
    route: Route,
    drone: DroneProfile,
    timeline: SortieTimeline,
) -> FlownSample:
    """The sample of a sortie that flew straight to its scene (see `interruption`)."""
    assert timeline.dispatch_to_takeoff_s is not None
    assert timeline.dispatch_to_on_scene_s is not None
    return FlownSample(
        drone_id=drone_id,
        sortie_id=sortie_id,
        legs_m=tuple(round(leg, 2) for leg in route_legs_m(route)),
        turns_deg=tuple(round(turn, 2) for turn in route.turn_angles_deg),
        cruise_altitude_m=route.cruise_altitude_m,
        cruise_speed_m_s=drone.cruise_speed_m_s,
        climb_m_s=drone.climb_m_s,
        dispatch_to_takeoff_s=round(timeline.dispatch_to_takeoff_s, 3),
        dispatch_to_on_scene_s=round(timeline.dispatch_to_on_scene_s, 3),
    )


def refit(
    samples: Sequence[FlownSample], defaults: EtaParameters, policy: CalibrationPolicy
) -> DroneEta:
    """A drone's figures from its samples, oldest first (see the module's rules)."""
    kept = list(samples)[-policy.kept_flights :]
    default = DroneEta(defaults, kept=len(kept))
    if len(kept) < policy.min_flights:
        return default
    flown = [s.replay() for s in kept]
    first = _fit(flown, defaults, policy, abs)
    errors = [estimate(f.route, f.drone, first).total_s - f.dispatch_to_on_scene_s for f in flown]
    centre = statistics.median(errors)
    spread_s = (
        policy.outlier_mads * _MAD_TO_SIGMA * statistics.median(abs(e - centre) for e in errors)
    )

    def consistent(f: FlownSortie, error_s: float) -> bool:
        if len(flown) < _FEWEST_TO_JUDGE:
            return True  # two flights that disagree: nothing says which one is odd
        limit_s = min(spread_s, policy.outlier_share * f.dispatch_to_on_scene_s)
        return abs(error_s - centre) <= max(policy.outlier_floor_s, limit_s)

    inliers = [f for f, e in zip(flown, errors, strict=True) if consistent(f, e)]
    if len(inliers) < policy.min_flights:
        return default
    params = _fit(inliers, defaults, policy, lambda error_s: error_s * error_s)
    return DroneEta(params, calibrated=True, flights=len(inliers), kept=len(kept))


def _fit(
    flown: Sequence[FlownSortie],
    defaults: EtaParameters,
    policy: CalibrationPolicy,
    loss: Callable[[float], float],
) -> EtaParameters:
    """Latency the median dispatch → takeoff, acceleration the `loss` fit, both bounded."""
    lo, hi = policy.latency_bounds_s
    latency = min(max(statistics.median(f.dispatch_to_takeoff_s for f in flown), lo), hi)
    params = replace(defaults, launch_latency_s=round(latency, 2))
    accel = fit_acceleration(flown, params, loss, policy.accel_bounds_m_s2)
    return replace(params, horizontal_accel_m_s2=accel)
