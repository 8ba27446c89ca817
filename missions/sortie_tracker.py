"""What a drone's telemetry means for its sortie: takeoff, arrival, return, failsafes, timings.

Pure: the flight executor hands every `DroneState` to `SortieTracker.observe`,
which advances the `Sortie` and records what happened with its cause. The
rules, in order of precedence:

- airborne: the landed state leaves ON_GROUND, or relative altitude > 2 m;
- on scene: within `on_scene_radius_m` of the target near cruise altitude, or
  mission progress moving past the loiter item (MAVSDK counts an item as passed
  once the vehicle reports it reached, which PX4 does on arrival at a loiter);
- returning: RETURN_TO_LAUNCH mode (the mission's RTL item switches to it too);
- landed: on the ground and disarmed after having flown; docked when that is
  within `dock_radius_m` of the dock (the route's start).

A mode change to HOLD, RETURN_TO_LAUNCH or LAND that nobody here asked for is
the vehicle's own failsafe; its cause is read from recent status texts (fence,
battery, link) and from what the tracker saw (a telemetry gap, a low battery).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from missions.drone_state import DroneState, FlightMode, LandedState, Severity
from missions.geo import GeoPoint
from missions.mission_plan import MissionPlan
from missions.route import Route
from missions.sortie import Cause, Sortie, SortieState

S = SortieState
_FAILSAFE_MODES = frozenset({FlightMode.HOLD, FlightMode.RETURN_TO_LAUNCH, FlightMode.LAND})
_KEYWORDS: tuple[tuple[Cause, tuple[str, ...]], ...] = (
    (Cause.PREFLIGHT, ("preflight", "arming")),
    (Cause.GEOFENCE, ("fence",)),
    (Cause.BATTERY, ("battery",)),
    (Cause.LINK, ("link", "connection", "gcs")),
)


@dataclass(frozen=True, slots=True)
class TrackerSettings:
    airborne_altitude_m: float = 2.0
    departure_speed_m_s: float = 2.0
    on_scene_radius_m: float = 10.0
    on_scene_altitude_tolerance_m: float = 3.0
    dock_radius_m: float = 15.0
    low_battery_pct: float = 25.0
    #: Status texts this old (vehicle seconds) or newer explain a failsafe.
    failsafe_text_window_s: float = 15.0


@dataclass(frozen=True, slots=True)
class SortieMeasurement:
    """Measured timings of one flown sortie, vehicle clock; for calibrating the ETA model."""

    call_id: str
    station_id: str
    route_length_m: float
    cruise_altitude_m: float
    dispatch_to_armed_s: float | None
    dispatch_to_takeoff_s: float | None
    #: First faster than `departure_speed_m_s` over the ground, in the air: the takeoff
    #: done, the vehicle on its way. A sharp mark (the velocity estimate is steadier than
    #: the altitude near the ground, and arming and takeoff detection reach the ground only
    #: with once-a-second messages).
    dispatch_to_departure_s: float | None
    #: First within `on_scene_altitude_tolerance_m` of the cruise altitude on the way out.
    dispatch_to_cruise_altitude_s: float | None
    dispatch_to_on_scene_s: float | None
    takeoff_to_on_scene_s: float | None
    flown_to_scene_m: float
    max_ground_speed_m_s: float
    cruise_speed_m_s: float | None
    final_state: SortieState


class SortieTracker:
    """Feeds a `Sortie` from telemetry. One per sortie."""

    def __init__(
        self,
        sortie: Sortie,
        plan: MissionPlan,
        route: Route,
        settings: TrackerSettings,
        dock: GeoPoint | None = None,
    ) -> None:
        self.sortie = sortie
        self.plan = plan
        self.route = route
        #: Where the drone lands at the end: the station (by default the route's start;
        #: a route given in flight, `retarget`, starts in the air).
        self.dock = dock if dock is not None else route.waypoints[0].point
        self.settings = settings
        self.expected_mode: FlightMode | None = None
        self._last_mode: FlightMode | None = None
        self._last_progress = -1
        self._last_text_seq = 0
        self._low_battery_noted = False
        self._link_gap_at_s: float | None = None
        self._airborne_seen = False
        self._last_fix: tuple[float, float, float] | None = None  # lat, lon, vehicle s
        self._flown_m = 0.0
        self._max_speed_m_s = 0.0
        self._en_route_speeds: list[float] = []
        self._cruise_altitude_at_s: float | None = None
        self._departure_at_s: float | None = None

    # --- what we asked for --------------------------------------------------------

    def start(self, state: DroneState) -> None:
        """Begin at `state`: status texts up to now belong to before the sortie."""
        if state.status_texts:
            self._last_text_seq = state.status_texts[-1].seq
        self._last_mode = state.flight_mode
        self._last_progress = state.mission_current

    def adopt(self, state: DroneState, wall: datetime) -> None:
        """Take over a flight already in the air (a server restarted while it flew).

        The sortie holds the state the store last recorded. What the vehicle does now
        began while nobody watched, so its present mode is taken as expected, not as a
        failsafe; the sortie is brought up to what the vehicle shows (airborne, past the
        scene, returning).
        """
        self.start(state)
        self.expected_mode = state.flight_mode
        self._airborne_seen = self._is_airborne(state)
        sortie, t = self.sortie, state.vehicle_time_s
        if sortie.state is S.LAUNCHING and self._airborne_seen:
            sortie.advance(S.EN_ROUTE, Cause.TELEMETRY, "found airborne after a restart", t, wall)
        past_scene = state.mission_current > self.plan.loiter_index
        if sortie.state is S.EN_ROUTE and (past_scene or self._arrived(state)):
            sortie.advance(S.ON_SCENE, Cause.MISSION, "found at or past the scene", t, wall)
        if sortie.state in (S.EN_ROUTE, S.ON_SCENE) and (
            state.flight_mode is FlightMode.RETURN_TO_LAUNCH
        ):
            if state.mission_current >= self.plan.rtl_index:
                cause, why = Cause.MISSION, "mission complete"
            else:
                cause, why = Cause.FAILSAFE, "a failsafe while no server watched"
            sortie.advance(S.RETURNING, cause, f"found returning ({why})", t, wall)

    def retarget(self, plan: MissionPlan, route: Route, state: DroneState) -> None:
        """Track a new mission uploaded in flight (see `FlightExecutor.retarget`) from
        `state`, which reports the vehicle already on it."""
        self.plan = plan
        self.route = route
        self._last_progress = state.mission_current

    def expect(self, mode: FlightMode | None) -> None:
        """Note that we commanded `mode`, so seeing it is not a failsafe."""
        self.expected_mode = mode

    def link_lost(self, state: DroneState, wall: datetime, detail: str) -> None:
        self._link_gap_at_s = state.vehicle_time_s
        self.sortie.record("link_lost", Cause.LINK, detail, state.vehicle_time_s, wall)

    def link_restored(self, state: DroneState, wall: datetime) -> None:
        self.sortie.record("link_restored", Cause.LINK, "", state.vehicle_time_s, wall)

    # --- what we see ---------------------------------------------------------------

    def observe(self, state: DroneState, wall: datetime) -> None:
        """Advance the sortie for one telemetry snapshot."""
        t = state.vehicle_time_s
        self._note_texts(state, wall)
        self._note_battery(state, wall)
        self._note_motion(state)
        mode_changed = state.flight_mode != self._last_mode
        self._last_mode = state.flight_mode
        passed_loiter = (
            state.mission_current > self.plan.loiter_index >= self._last_progress
            and self.expected_mode is FlightMode.MISSION
        )
        self._last_progress = state.mission_current
        sortie = self.sortie
        if sortie.state is S.LAUNCHING and self._is_airborne(state):
            self._airborne_seen = True
            sortie.advance(S.EN_ROUTE, Cause.TELEMETRY, "takeoff detected", t, wall)
        if mode_changed and (sortie.airborne or sortie.state is S.ABORTED):
            self._on_mode(state, wall)
        if sortie.state is S.EN_ROUTE and (passed_loiter or self._arrived(state)):
            cause = Cause.MISSION if passed_loiter else Cause.TELEMETRY
            sortie.advance(S.ON_SCENE, cause, "at the target", t, wall)
        if sortie.state in (S.EN_ROUTE, S.ON_SCENE) and self._mission_returning(state):
            sortie.advance(S.RETURNING, Cause.MISSION, "mission complete, returning", t, wall)
        if self._is_airborne(state):
            self._airborne_seen = True
        if (
            sortie.state in (S.EN_ROUTE, S.ON_SCENE, S.RETURNING, S.ABORTED)
            and self._airborne_seen
            and self._on_ground(state)
        ):
            self._landed(state, wall)
        elif sortie.state is S.ABORTED and not self._airborne_seen and self._on_ground(state):
            sortie.advance(S.LANDED, Cause.PILOT, "aborted before takeoff", t, wall)
            sortie.advance(S.DOCKED, Cause.DOCK, "never left the dock", t, wall)

    def _on_mode(self, state: DroneState, wall: datetime) -> None:
        mode, t, sortie = state.flight_mode, state.vehicle_time_s, self.sortie
        if mode == self.expected_mode or mode not in _FAILSAFE_MODES or not state.armed:
            return  # ours, harmless, or PX4 settling to HOLD after it disarmed
        if mode is FlightMode.RETURN_TO_LAUNCH and self._mission_returning(state):
            return  # the mission's own RTL item
        cause, why = self._failsafe_cause(state)
        detail = f"vehicle switched to {mode} ({why})"
        sortie.record("failsafe", cause, detail, t, wall)
        if mode is FlightMode.RETURN_TO_LAUNCH and sortie.state in (S.EN_ROUTE, S.ON_SCENE):
            sortie.advance(S.RETURNING, cause, detail, t, wall)

    def _failsafe_cause(self, state: DroneState) -> tuple[Cause, str]:
        t = state.vehicle_time_s
        window = self.settings.failsafe_text_window_s
        for text in reversed(state.status_texts):
            if (
                t is not None
                and text.vehicle_time_s is not None
                and t - text.vehicle_time_s > window
            ):
                break
            lowered = text.text.lower()
            for cause, words in _KEYWORDS:
                if any(w in lowered for w in words):
                    return cause, text.text
        if self._link_gap_at_s is not None:
            self._link_gap_at_s = None  # one gap explains one failsafe
            return Cause.LINK, "after a telemetry gap"
        if state.battery_pct is not None and state.battery_pct <= self.settings.low_battery_pct:
            return Cause.BATTERY, f"battery {state.battery_pct:.0f} %"
        return Cause.FAILSAFE, "no reason reported"

    def _landed(self, state: DroneState, wall: datetime) -> None:
        t, sortie = state.vehicle_time_s, self.sortie
        # From the dock itself (the route's start), never from the vehicle's home: PX4
        # moves its home to wherever it lands and disarms (HomePosition, COM_HOME_EN).
        away_m = state.distance_home_m
        if state.position is not None:
            away_m = state.position.point.distance_m(self.dock)
        sortie.advance(S.LANDED, Cause.TELEMETRY, "on the ground, disarmed", t, wall)
        if away_m is not None and away_m <= self.settings.dock_radius_m:
            sortie.advance(S.DOCKED, Cause.DOCK, f"{away_m:.1f} m from the dock", t, wall)
        else:
            where = "unknown distance" if away_m is None else f"{away_m:.0f} m"
            sortie.record("landed_away", Cause.TELEMETRY, f"landed {where} from the dock", t, wall)

    def _note_texts(self, state: DroneState, wall: datetime) -> None:
        for text in state.texts_after(self._last_text_seq):
            self._last_text_seq = text.seq
            if text.severity in (Severity.DEBUG, Severity.INFO):
                continue
            lowered = text.text.lower()
            cause = next((c for c, words in _KEYWORDS if any(w in lowered for w in words)), None)
            kind = "fence_breach" if cause is Cause.GEOFENCE else "status_text"
            self.sortie.record(kind, cause or Cause.FAILSAFE, text.text, text.vehicle_time_s, wall)

    def _note_battery(self, state: DroneState, wall: datetime) -> None:
        pct = state.battery_pct
        if pct is not None and pct <= self.settings.low_battery_pct and not self._low_battery_noted:
            self._low_battery_noted = True
            detail = f"battery at {pct:.0f} %"
            self.sortie.record("low_battery", Cause.BATTERY, detail, state.vehicle_time_s, wall)

    def _note_motion(self, state: DroneState) -> None:
        speed = state.ground_speed_m_s
        if speed is not None and self.sortie.state is S.EN_ROUTE:
            self._max_speed_m_s = max(self._max_speed_m_s, speed)
            self._en_route_speeds.append(speed)
        pos, t = state.position, state.vehicle_time_s
        if pos is None or t is None:
            return
        if (
            self._departure_at_s is None
            and self.sortie.state is S.EN_ROUTE
            and speed is not None
            and speed > self.settings.departure_speed_m_s
        ):
            self._departure_at_s = t
        if (
            self._cruise_altitude_at_s is None
            and self.sortie.state is S.EN_ROUTE
            and abs(pos.relative_altitude_m - self.route.cruise_altitude_m)
            <= self.settings.on_scene_altitude_tolerance_m
        ):
            self._cruise_altitude_at_s = t
        if self._last_fix is not None and self.sortie.state is S.EN_ROUTE:
            lat, lon, _ = self._last_fix
            self._flown_m += _flat_distance_m(lat, lon, pos.latitude_deg, pos.longitude_deg)
        self._last_fix = (pos.latitude_deg, pos.longitude_deg, t)

    # --- predicates ----------------------------------------------------------------

    def _is_airborne(self, state: DroneState) -> bool:
        alt = state.relative_altitude_m
        lifted = state.landed_state not in (LandedState.ON_GROUND, LandedState.UNKNOWN)
        return bool(state.armed) and (
            lifted or (alt is not None and alt > self.settings.airborne_altitude_m)
        )

    def _on_ground(self, state: DroneState) -> bool:
        return not state.armed and state.landed_state in (
            LandedState.ON_GROUND,
            LandedState.UNKNOWN,
        )

    def _arrived(self, state: DroneState) -> bool:
        pos = state.position
        if pos is None:
            return False
        target = self.route.target
        close = pos.point.distance_m(target.point) <= self.settings.on_scene_radius_m
        level = (
            abs(pos.relative_altitude_m - target.relative_altitude_m)
            <= self.settings.on_scene_altitude_tolerance_m
        )
        return close and level

    def _mission_returning(self, state: DroneState) -> bool:
        return (
            state.flight_mode is FlightMode.RETURN_TO_LAUNCH
            and state.mission_current >= self.plan.rtl_index
            and self.expected_mode is FlightMode.MISSION
        )

    # --- results -------------------------------------------------------------------

    def measurement(self) -> SortieMeasurement:
        timeline = self.sortie.timeline()
        takeoff_to_scene = None
        if timeline.takeoff_s is not None and timeline.on_scene_s is not None:
            takeoff_to_scene = timeline.on_scene_s - timeline.takeoff_s

        def since_dispatch(t: float | None) -> float | None:
            return None if t is None or timeline.dispatch_s is None else t - timeline.dispatch_s

        return SortieMeasurement(
            call_id=self.sortie.call_id,
            station_id=self.sortie.station_id,
            route_length_m=self.route.length_m,
            cruise_altitude_m=self.route.cruise_altitude_m,
            dispatch_to_armed_s=timeline.dispatch_to_armed_s,
            dispatch_to_takeoff_s=timeline.dispatch_to_takeoff_s,
            dispatch_to_departure_s=since_dispatch(self._departure_at_s),
            dispatch_to_cruise_altitude_s=since_dispatch(self._cruise_altitude_at_s),
            dispatch_to_on_scene_s=timeline.dispatch_to_on_scene_s,
            takeoff_to_on_scene_s=takeoff_to_scene,
            flown_to_scene_m=round(self._flown_m, 1),
            max_ground_speed_m_s=round(self._max_speed_m_s, 2),
            cruise_speed_m_s=_percentile(self._en_route_speeds, 0.9),
            final_state=self.sortie.state,
        )


def _percentile(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank) of `values`, None when empty.

    >>> _percentile([1.0, 2.0, 3.0, 4.0], 0.5)
    2.0
    """
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)


def _flat_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance: exact enough between two fixes a few metres apart."""
    k = 6_371_008.8 * math.pi / 180.0
    dx = (lon2 - lon1) * k * math.cos(math.radians((lat1 + lat2) / 2.0))
    dy = (lat2 - lat1) * k
    return math.hypot(dx, dy)
