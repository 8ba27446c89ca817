"""The scenario runner: calls from a CSV through the dispatcher and real MAVLink flights.

One vehicle per station (the built-in simulator or PX4 SITL, as the composition
root passes them in) and the server's own operations service on a fresh state
directory: fleet of
MAVSDK links, SQLite store, dispatcher, dock preparation, one flight executor
per sortie, three stations at once. Each call fires at its
`t_s` offset on the vehicles' clock; every time reported is vehicle time, so a
run at 10x measures what a real-time run would. In waves (`waves=True`) the calls
that share a `t_s` go out together once every sortie before them is back and every
dock prepared again, so each call starts from a docked drone whatever the vehicle.

CSV header: ``t_s,lat,lon,priority``, then optionally any of ``source,call_type,
confidence,rounds``: a call whose source is ``gunshot`` or ``cad`` comes in as the
webhooks bring one (`Operations.take_external_call`), so the deployment's launch
policies may launch it (or hold it for the pilot, who confirms at once: nobody is at a
console); every other call, and one the policies leave, is dispatched at once as a
dispatcher would. Policies' hours are judged at the local time the run is given
(`policy_time`), else now.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import logging
import math
import re
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, time
from pathlib import Path

from dfr.active_sorties import ActiveSortie
from dfr.auth import Principal, Role
from dfr.deployment import CALL_TYPE_PATTERN, Deployment, call_type_key
from dfr.eta import EtaParameters, FlownSortie, calibrate
from dfr.flight_executor import FlightResult
from dfr.operations import Operations
from dfr.services import VehicleProvider, open_services
from dfr.settings import Settings
from dfr.store import CallRecord, NewCall
from missions.geo import GeoPoint
from missions.profile import Station
from missions.sortie import SortieTimeline
from missions.sortie_tracker import SortieMeasurement
from stations.fleet import Fleet

log = logging.getLogger(__name__)

_SCENARIO = Principal("scenario", Role.DISPATCHER)
_PILOT = Principal("scenario-pilot", Role.PILOT)
#: Sources whose calls come in as the webhooks bring them (and meet the launch policies).
EXTERNAL_SOURCES = ("gunshot", "cad")
OPTIONAL_COLUMNS = ("source", "call_type", "confidence", "rounds")
#: The ETA's target: predicted within this share of the measured call → on scene.
ETA_ERROR_BOUND_PCT = 10.0


class ScenarioError(Exception):
    """A call file or set-up the scenario cannot run."""


@dataclass(frozen=True, slots=True)
class ScenarioCall:
    t_s: float
    latitude_deg: float
    longitude_deg: float
    priority: int = 1
    source: str = "scenario"
    call_type: str | None = None
    confidence: float | None = None  # a gunshot sensor's, 0..1
    rounds: int | None = None


@dataclass(frozen=True, slots=True)
class FlightPhases:
    """Where one sortie's time went, vehicle seconds (None: a milestone not seen).

    takeoff: armed → takeoff detected; climb: takeoff detected → within the tracker's
    altitude tolerance of the cruise altitude; cruise: from there → on scene (the three
    add up to `armed_to_on_scene_s`); return: the return started → landed and disarmed.
    `departure_to_on_scene_s` starts when the vehicle first climbs through the tracker's
    airborne altitude (2 m): a sharp mark, where arming and takeoff detection reach the
    ground only with the vehicle's once-a-second messages.
    """

    armed_to_on_scene_s: float | None
    departure_to_on_scene_s: float | None
    takeoff_s: float | None
    climb_s: float | None
    cruise_s: float | None
    return_s: float | None

    @classmethod
    def of(cls, timeline: SortieTimeline, measured: SortieMeasurement) -> FlightPhases:
        dispatch = timeline.dispatch_s

        def at(since_dispatch: float | None) -> float | None:
            return None if dispatch is None or since_dispatch is None else dispatch + since_dispatch

        cruise_alt = at(measured.dispatch_to_cruise_altitude_s)

        def between(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else _round(b - a, 2)

        return cls(
            armed_to_on_scene_s=between(timeline.armed_s, timeline.on_scene_s),
            departure_to_on_scene_s=between(
                at(measured.dispatch_to_departure_s), timeline.on_scene_s
            ),
            takeoff_s=between(timeline.armed_s, timeline.takeoff_s),
            climb_s=between(timeline.takeoff_s, cruise_alt),
            cruise_s=between(cruise_alt, timeline.on_scene_s),
            return_s=between(timeline.returning_s, timeline.landed_s),
        )


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """One call, all times in vehicle seconds from the call."""

    call_id: int
    t_s: float
    station_id: str | None
    drone_id: str | None
    route_m: float | None
    eta_s: float | None
    arrival_s: float | None  # call → on scene
    dispatch_to_armed_s: float | None
    dispatch_to_takeoff_s: float | None
    queued_s: float  # call → dispatch, for a call that waited in the queue (else 0)
    final_state: str | None
    reason: str | None = None
    launched_by: str | None = None  # policy:<name> for a launch nobody clicked
    policy_outcome: str | None = None  # what the launch policies did with the call
    phases: FlightPhases | None = None

    @property
    def eta_error_pct(self) -> float | None:
        if self.eta_s is None or self.arrival_s is None or self.queued_s > 0:
            return None
        return 100.0 * (self.eta_s - self.arrival_s) / self.arrival_s


@dataclass(frozen=True)
class ScenarioResult:
    calls: tuple[CallOutcome, ...]
    speed_factor: float
    achieved_speed_factor: float | None
    calibrated: EtaParameters | None
    #: Each drone's ETA figures as the server holds them after the run (`dfr.fleet_eta`).
    drone_eta: tuple[dict, ...] = ()

    def summary(self) -> dict:
        arrivals = sorted(c.arrival_s for c in self.calls if c.arrival_s is not None)
        errors = [abs(e) for c in self.calls if (e := c.eta_error_pct) is not None]
        launches = [c.dispatch_to_armed_s for c in self.calls if c.dispatch_to_armed_s is not None]
        takeoffs = [
            c.dispatch_to_takeoff_s for c in self.calls if c.dispatch_to_takeoff_s is not None
        ]
        return {
            "calls": len(self.calls),
            "on_scene": len(arrivals),
            "arrival_p50_s": _pct(arrivals, 0.5),
            "arrival_p90_s": _pct(arrivals, 0.9),
            "arrival_max_s": round(max(arrivals), 1) if arrivals else None,
            "within_90s_share": round(sum(a <= 90 for a in arrivals) / len(self.calls), 3)
            if self.calls
            else None,
            "eta_abs_error_p50_pct": _pct(sorted(errors), 0.5),
            "eta_abs_error_max_pct": round(max(errors), 1) if errors else None,
            "eta_error_bound_pct": ETA_ERROR_BOUND_PCT,
            # Every call flown without waiting in the queue was predicted within the bound.
            "eta_within_bound": bool(errors) and max(errors) <= ETA_ERROR_BOUND_PCT,
            "dispatch_to_armed_max_s": round(max(launches), 2) if launches else None,
            "dispatch_to_takeoff_max_s": round(max(takeoffs), 2) if takeoffs else None,
            "auto_launched": sum((c.launched_by or "").startswith("policy:") for c in self.calls),
            "speed_factor": self.speed_factor,
            "achieved_speed_factor": self.achieved_speed_factor,
            "calibrated_eta": asdict(self.calibrated) if self.calibrated else None,
            "drone_eta": list(self.drone_eta),
        }

    def as_json(self) -> dict:
        return {
            "calls": [{**asdict(c), "eta_error_pct": _round(c.eta_error_pct)} for c in self.calls],
            "summary": self.summary(),
        }


def read_calls(path: Path) -> list[ScenarioCall]:
    """Read `t_s,lat,lon,priority` rows; raises ScenarioError naming the line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    rows = csv.DictReader(text.splitlines())
    if rows.fieldnames is None or [f.strip() for f in rows.fieldnames][:4] != [
        "t_s",
        "lat",
        "lon",
        "priority",
    ]:
        raise ScenarioError(f"{path}: header must be t_s,lat,lon,priority")
    extra = [f.strip() for f in rows.fieldnames[4:]]
    unknown = [f for f in extra if f not in OPTIONAL_COLUMNS]
    if unknown:
        raise ScenarioError(
            f"{path}: unknown column {unknown[0]!r} (optional: {', '.join(OPTIONAL_COLUMNS)})"
        )
    calls = []
    for line, row in enumerate(rows, start=2):
        row = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        try:
            call = _with_optional(
                ScenarioCall(
                    float(row["t_s"]), float(row["lat"]), float(row["lon"]), int(row["priority"])
                ),
                row,
            )
            GeoPoint(call.latitude_deg, call.longitude_deg)
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"{path}: line {line}: {exc}") from exc
        if not math.isfinite(call.t_s) or call.t_s < 0:
            raise ScenarioError(f"{path}: line {line}: t_s must be >= 0")
        calls.append(call)
    return sorted(calls, key=lambda c: c.t_s)


def _with_optional(call: ScenarioCall, row: dict[str, str]) -> ScenarioCall:
    """`call` with the row's optional columns; raises ValueError naming a bad one."""
    source = row.get("source") or "scenario"
    if source not in ("scenario", *EXTERNAL_SOURCES):
        raise ValueError(f"source {source!r} is not scenario, gunshot or cad")
    call = replace(call, source=source)
    if call_type := row.get("call_type"):
        if re.fullmatch(CALL_TYPE_PATTERN, call_type) is None:
            raise ValueError(f"call_type {call_type!r} is not a call type")
        call = replace(call, call_type=call_type_key(call_type))
    if confidence := row.get("confidence"):
        value = float(confidence)
        if not 0.0 <= value <= 1.0:  # NaN too
            raise ValueError(f"confidence {confidence} is not between 0 and 1")
        call = replace(call, confidence=value)
    if rounds := row.get("rounds"):
        if int(rounds) < 1:
            raise ValueError(f"rounds {rounds} is not 1 or more")
        call = replace(call, rounds=int(rounds))
    return call


class _Run:
    """What one scenario run has seen: outcomes per call, flights for calibration."""

    def __init__(self) -> None:
        self.outcomes: dict[int, CallOutcome] = {}
        self.call_time: dict[int, dict[str, float]] = {}  # call → vehicle time per station
        self.flown: list[FlownSortie] = []
        self.flights_ended = 0
        self.queued: set[int] = set()  # calls that waited in the queue for a free drone
        self.flight_ended = asyncio.Event()

    def called(
        self, call: ScenarioCall, record: CallRecord, vehicle_times: dict[str, float]
    ) -> None:
        self.call_time[record.id] = vehicle_times
        self.outcomes[record.id] = CallOutcome(
            record.id, call.t_s, None, None, None, None, None, None, None, 0.0, None
        )

    def decided(self, record: CallRecord) -> None:
        """What the launch policies did with the call, as it finally stands."""
        self.outcomes[record.id] = replace(
            self.outcomes[record.id], policy_outcome=record.policy_outcome
        )

    def ended(self, active: ActiveSortie, flight: FlightResult) -> None:
        call_id, station = active.call.id, active.station
        t = flight.timeline
        called_at = self.call_time[call_id][station.id]
        queued = max(0.0, (t.dispatch_s or called_at) - called_at)
        arrival = None if t.on_scene_s is None else t.on_scene_s - called_at
        self.outcomes[call_id] = replace(
            self.outcomes[call_id],
            station_id=station.id,
            drone_id=station.drone.id,
            route_m=round(active.route.length_m, 1),
            eta_s=round(active.eta_s, 1),
            arrival_s=_round(arrival),
            dispatch_to_armed_s=_round(t.dispatch_to_armed_s, 2),
            dispatch_to_takeoff_s=_round(t.dispatch_to_takeoff_s, 2),
            queued_s=round(queued, 1) if call_id in self.queued else 0.0,
            final_state=str(flight.final_state),
            reason=flight.reason,
            launched_by=active.launched_by,
            phases=FlightPhases.of(t, flight.measurement),
        )
        if t.dispatch_to_takeoff_s is not None and t.dispatch_to_on_scene_s is not None:
            self.flown.append(
                FlownSortie(
                    active.route, station.drone, t.dispatch_to_takeoff_s, t.dispatch_to_on_scene_s
                )
            )
        self.flights_ended += 1
        self.flight_ended.set()


class _Landing:
    """Waits for every sortie in flight to end. No flight outlasts its battery: a longer
    wait for the next one to end than the endurance (in wall time) means a hung flight."""

    def __init__(self, ops: Operations, run: _Run, endurance_s: float, speed_factor: float) -> None:
        self._ops = ops
        self._run = run
        self._endurance_s = endurance_s
        self._limit_wall_s = endurance_s / speed_factor + 60.0

    async def all_down(self) -> None:
        """Until every sortie is down and done with (its drone released, its flight
        learnt from: it leaves the board before that)."""
        while True:
            self._run.flight_ended.clear()
            sorties = len(await self._ops.records.list_sorties())
            if not self._ops.active_sorties and self._run.flights_ended >= sorties:
                return
            try:
                async with asyncio.timeout(self._limit_wall_s):
                    await self._run.flight_ended.wait()
            except TimeoutError:
                raise ScenarioError(
                    f"a sortie has flown longer than its drone's endurance "
                    f"({self._endurance_s:.0f} s); giving up"
                ) from None


class _Clock:
    """The scenario clock: the slowest vehicle's time."""

    def __init__(self, fleet: Fleet, stations: Sequence[Station]) -> None:
        self._fleet = fleet
        self._station_ids = [s.id for s in stations]

    def vehicle_times(self) -> dict[str, float]:
        return {s: self._fleet.state(s).vehicle_time_s or 0.0 for s in self._station_ids}

    def now_s(self) -> float:
        return min(self.vehicle_times().values())

    async def until(self, vehicle_time_s: float) -> None:
        """Wait until the scenario clock reaches `vehicle_time_s`."""
        while (now := self.vehicle_times()) and min(now.values()) < vehicle_time_s:
            slowest = min(now, key=now.__getitem__)
            await self._fleet.link(slowest).changed(timeout_s=5.0)


async def run_scenario(
    deployment: Deployment,
    calls: Sequence[ScenarioCall],
    vehicles: VehicleProvider,
    speed_factor: float,
    on_scene_s: float | None = None,
    ready_timeout_s: float = 120.0,
    policy_time: time | None = None,
    waves: bool = False,
) -> ScenarioResult:
    """Fly every call through the server's own operations service (store,
    dispatcher, dock preparation, flight executors, queue, launch policies) on the
    vehicles that `vehicles` runs at `speed_factor`; returns when every sortie is back
    on the ground. `policy_time`: the deployment's local time of day at which launch
    policies judge the calls' hours (None: now).

    `waves`: calls sharing a `t_s` fly together, each wave once the one before it is
    down and every dock prepared; `t_s` then orders the waves instead of timing them."""
    defaults = deployment.defaults
    if on_scene_s is not None:
        defaults = defaults.model_copy(update={"on_scene_s": on_scene_s})
    run = _Run()
    with tempfile.TemporaryDirectory(prefix="dfr-scenario-") as tmp:
        # Every dispatch flies at once: nobody is at a console to confirm.
        planned = replace(deployment, defaults=defaults, launch_policy="immediate")
        users = Path(tmp) / "users.toml"
        users.write_text("# nobody logs in to a scenario run\n")
        settings = Settings(state_dir=Path(tmp), users_file=users, secret_key="scenario")
        async with (
            open_services(settings, planned, vehicles) as services,
            Operations.running(services, settings, on_flight_ended=run.ended) as ops,
        ):
            stations = services.deployment.stations
            if policy_time is not None:
                at = datetime.combine(datetime.now(UTC).date(), policy_time, planned.time_zone)
                ops.auto_launch.clock = lambda: at
            await ops.wait_docks_prepared(ready_timeout_s)
            clock = _Clock(ops.fleet, stations)
            start_s = clock.now_s()
            wall_start = asyncio.get_running_loop().time()
            endurance_s = max(s.drone.endurance_s for s in stations)
            landing = _Landing(ops, run, endurance_s, speed_factor)
            numbered = 0

            async def fire(call: ScenarioCall) -> None:
                nonlocal numbered
                numbered += 1
                record = await _call_in(ops, call, numbered)
                run.called(call, record, clock.vehicle_times())
                if record.policy_outcome == "awaiting_pilot":
                    # A policy holds it for the pilot: the scenario's pilot confirms at once.
                    sortie = await ops.records.sortie_for_call(record.id)
                    if sortie is not None:
                        await ops.confirm_launch(sortie.id, _PILOT)
                elif (
                    record.status != "dispatched"
                    and (await ops.dispatch(record.id, _SCENARIO)).queued
                ):
                    run.queued.add(record.id)
                run.decided(await ops.calls.get_call(record.id))

            if waves:
                for _, wave in itertools.groupby(calls, key=lambda c: c.t_s):
                    await landing.all_down()
                    await ops.wait_docks_prepared(ready_timeout_s)
                    for call in wave:
                        await fire(call)
            else:
                for call in calls:
                    await clock.until(start_s + call.t_s)
                    await fire(call)
            # Until every sortie is down and done with; calls still queued then wait for
            # no drone.
            await landing.all_down()
            wall_s = asyncio.get_running_loop().time() - wall_start
            achieved = round((clock.now_s() - start_s) / wall_s, 2) if wall_s > 0 else None
            drone_eta = tuple(ops.eta_calibration(s.drone.id) for s in stations)
    outcomes = tuple(run.outcomes[k] for k in sorted(run.outcomes))
    calibrated = calibrate(run.flown, deployment.eta) if run.flown else None
    return ScenarioResult(outcomes, speed_factor, achieved, calibrated, drone_eta)


async def _call_in(ops: Operations, call: ScenarioCall, n: int) -> CallRecord:
    """The call as its source brings it: a webhook's through the launch policies."""
    new = NewCall(
        call.latitude_deg,
        call.longitude_deg,
        call.priority,
        call.source,
        f"scenario call {n}",
        call_type=call.call_type,
        confidence=call.confidence,
        rounds=call.rounds,
    )
    if call.source not in EXTERNAL_SOURCES:
        return await ops.calls.create_call(new, _SCENARIO.name)
    record, _ = await ops.calls.take_external_call(
        replace(new, external_id=f"scenario-{n}"), f"scenario-{call.source}"
    )
    return record


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return round(values[max(0, math.ceil(q * len(values)) - 1)], 1)


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)
