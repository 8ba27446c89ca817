"""`dfr bench fidelity`: the built-in simulator against PX4 SITL, call by call.

The same calls fly through the scenario runner (`dfr.scenario`, in waves: every
call starts from a docked drone) on the built-in simulator and on PX4 SITL, or on
the simulator alone against PX4 figures recorded earlier (`px4-fidelity.json`
beside the deployment). Per call: the route, arrival on each vehicle and the
difference in %, and where the time went on each (takeoff, climb to cruise
altitude, cruise, return and landing).

Three arrival figures, each with its own use:
- from dispatch: what a caller waits for. It includes the ground's own work before
  the launch (checks, uploads), done in wall time: at a speed factor k it counts k
  times in vehicle time, so it compares only at the same speed factor.
- from departure (first faster than 2 m/s, the takeoff done): the flight itself,
  sharp to a telemetry sample whatever the ground did; compared at any speed factor.
- from arming: the ground learns of arming from the vehicle's once-a-second
  heartbeat, and the takeoff waits for whichever comes last of the motors' spool-up
  and the mission start, so it carries a second or so of chance (shown, not judged).
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from dfr.deployment import Deployment
from dfr.scenario import CallOutcome, ScenarioCall, ScenarioError, read_calls, run_scenario
from dfr.services import VehicleProvider

#: Within this share of PX4's arrival (from departure; from dispatch at one speed
#: factor) a call agrees.
AGREEMENT_PCT = 3.0
#: Time held over each scene: long enough to be seen, short enough to fly many calls.
ON_SCENE_S = 5.0
CALLS_FILE = "fidelity-calls.csv"
REFERENCE_FILE = "px4-fidelity.json"


class FidelityError(Exception):
    """A reference file or call set the bench cannot use."""


@dataclass(frozen=True, slots=True)
class CallFigures:
    """One vehicle's figures for one call, vehicle seconds (None: not reached)."""

    latitude_deg: float
    longitude_deg: float
    station_id: str | None
    route_m: float | None
    arrival_s: float | None  # dispatch → on scene
    armed_to_on_scene_s: float | None
    departure_to_on_scene_s: float | None
    dispatch_to_armed_s: float | None
    takeoff_s: float | None  # armed → takeoff detected
    climb_s: float | None  # takeoff detected → at cruise altitude
    cruise_s: float | None  # at cruise altitude → on scene
    return_s: float | None  # return started → landed, disarmed

    @classmethod
    def of(cls, call: ScenarioCall, outcome: CallOutcome) -> CallFigures:
        phases = outcome.phases
        return cls(
            latitude_deg=call.latitude_deg,
            longitude_deg=call.longitude_deg,
            station_id=outcome.station_id,
            route_m=outcome.route_m,
            arrival_s=outcome.arrival_s,
            armed_to_on_scene_s=phases.armed_to_on_scene_s if phases else None,
            departure_to_on_scene_s=phases.departure_to_on_scene_s if phases else None,
            dispatch_to_armed_s=outcome.dispatch_to_armed_s,
            takeoff_s=phases.takeoff_s if phases else None,
            climb_s=phases.climb_s if phases else None,
            cruise_s=phases.cruise_s if phases else None,
            return_s=phases.return_s if phases else None,
        )


#: The figures compared call by call, and averaged over repeated runs.
TIMES = (
    "arrival_s",
    "armed_to_on_scene_s",
    "departure_to_on_scene_s",
    "dispatch_to_armed_s",
    "takeoff_s",
    "climb_s",
    "cruise_s",
    "return_s",
)


@dataclass(frozen=True)
class Reference:
    """PX4 SITL's figures for a call set, from one or more runs (`runs[i][call]`)."""

    px4_commit: str
    speed_factor: float
    on_scene_s: float
    recorded_utc: str
    runs: tuple[tuple[CallFigures, ...], ...]

    @property
    def calls(self) -> tuple[CallFigures, ...]:
        """Per call, the mean of every run (the run-to-run spread is in `spread_pct`)."""
        return tuple(_mean_figures(per_call) for per_call in zip(*self.runs, strict=True))

    def spread_pct(self, name: str = "arrival_s") -> float | None:
        """Largest run-to-run range of one figure over the calls, in % of its mean."""
        return spread_pct(self.runs, name)

    def as_json(self) -> dict:
        return {
            "px4_commit": self.px4_commit,
            "speed_factor": self.speed_factor,
            "on_scene_s": self.on_scene_s,
            "recorded_utc": self.recorded_utc,
            "runs": [[asdict(f) for f in run] for run in self.runs],
        }

    @classmethod
    def from_json(cls, data: dict) -> Reference:
        runs = tuple(tuple(CallFigures(**f) for f in run) for run in data["runs"])
        if not runs or len({len(run) for run in runs}) != 1:
            raise ValueError("runs must be one or more lists of the same calls")
        return cls(
            str(data["px4_commit"]),
            float(data["speed_factor"]),
            float(data["on_scene_s"]),
            str(data["recorded_utc"]),
            runs,
        )

    def covers(self, calls: Sequence[ScenarioCall]) -> bool:
        """True if the reference was flown on exactly these call positions, in order."""
        first = self.runs[0]
        return len(first) == len(calls) and all(
            math.isclose(f.latitude_deg, c.latitude_deg, abs_tol=1e-7)
            and math.isclose(f.longitude_deg, c.longitude_deg, abs_tol=1e-7)
            for f, c in zip(first, calls, strict=True)
        )


def spread_pct(runs: Sequence[Sequence[CallFigures]], name: str) -> float | None:
    """Largest run-to-run range of one figure over the calls, in % of its mean; None
    with fewer than two runs."""
    if len(runs) < 2:
        return None
    ranges = []
    for per_call in zip(*runs, strict=True):
        values = [v for f in per_call if (v := getattr(f, name)) is not None]
        if len(values) >= 2 and statistics.fmean(values) > 0:
            ranges.append(100.0 * (max(values) - min(values)) / statistics.fmean(values))
    return round(max(ranges), 2) if ranges else None


def read_reference(path: Path) -> Reference:
    """Load recorded PX4 figures; raises FidelityError naming the file."""
    try:
        return Reference.from_json(json.loads(path.read_text(encoding="utf-8")))
    except OSError as exc:
        raise FidelityError(f"{path}: cannot read: {exc.strerror}") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise FidelityError(f"{path}: not a PX4 fidelity reference: {exc}") from exc


def write_reference(path: Path, reference: Reference) -> None:
    path.write_text(json.dumps(reference.as_json(), indent=1) + "\n", encoding="utf-8")


@dataclass(frozen=True, slots=True)
class Comparison:
    """One call on both vehicles."""

    call: int
    px4: CallFigures
    sim: CallFigures

    def difference_pct(self, name: str = "arrival_s") -> float | None:
        """(simulator - PX4) / PX4 of one figure, in %."""
        px4, sim = getattr(self.px4, name), getattr(self.sim, name)
        if px4 is None or sim is None or px4 <= 0:
            return None
        return round(100.0 * (sim - px4) / px4, 2)

    def agrees(self, from_dispatch: bool = True, tolerance_pct: float = AGREEMENT_PCT) -> bool:
        """On the same station, arrival from departure within `tolerance_pct` of PX4's, and
        with `from_dispatch` (both flown at one speed factor) arrival from dispatch too."""
        if self.px4.station_id != self.sim.station_id:
            return False
        names = ["departure_to_on_scene_s", *(["arrival_s"] if from_dispatch else [])]
        diffs = [self.difference_pct(name) for name in names]
        return all(d is not None and abs(d) <= tolerance_pct for d in diffs)

    def as_json(self, from_dispatch: bool = True) -> dict:
        return {
            "call": self.call,
            "px4": asdict(self.px4),
            "sim": asdict(self.sim),
            "difference_pct": {name: self.difference_pct(name) for name in TIMES},
            "agrees": self.agrees(from_dispatch),
        }


def compare(px4: Sequence[CallFigures], sim: Sequence[CallFigures]) -> list[Comparison]:
    return [Comparison(i, p, s) for i, (p, s) in enumerate(zip(px4, sim, strict=True), start=1)]


async def fly(
    deployment: Deployment,
    calls: Sequence[ScenarioCall],
    vehicles: VehicleProvider,
    speed_factor: float,
    on_scene_s: float = ON_SCENE_S,
) -> tuple[CallFigures, ...]:
    """Fly `calls` in waves on `vehicles`; one `CallFigures` per call, in call order."""
    result = await run_scenario(
        deployment, calls, vehicles, speed_factor, on_scene_s=on_scene_s, waves=True
    )
    # Call ids follow the order the calls were made in, which is `calls`' order.
    return tuple(
        CallFigures.of(call, outcome) for call, outcome in zip(calls, result.calls, strict=True)
    )


def default_calls(deployment: Deployment) -> Path:
    return deployment.source.parent / CALLS_FILE


def default_reference(deployment: Deployment) -> Path:
    return deployment.source.parent / REFERENCE_FILE


@dataclass(frozen=True)
class BenchResult:
    deployment: str
    speed_factor: float
    reference: Reference  # PX4: recorded, or flown now
    live: bool
    comparisons: tuple[Comparison, ...]  # PX4's mean against the simulator's mean
    sim_runs: tuple[tuple[CallFigures, ...], ...] = ()

    @property
    def same_speed(self) -> bool:
        """Both vehicles flew at one speed factor: arrival from dispatch compares."""
        return self.reference.speed_factor == self.speed_factor

    @property
    def all_agree(self) -> bool:
        return all(c.agrees(self.same_speed) for c in self.comparisons)

    def worst_pct(self, name: str) -> float | None:
        diffs = [abs(d) for c in self.comparisons if (d := c.difference_pct(name)) is not None]
        return max(diffs) if diffs else None

    def as_json(self) -> dict:
        return {
            "deployment": self.deployment,
            "speed_factor": self.speed_factor,
            "px4": {
                "live": self.live,
                "commit": self.reference.px4_commit,
                "speed_factor": self.reference.speed_factor,
                "runs": len(self.reference.runs),
                "run_to_run_spread_pct": {
                    name: self.reference.spread_pct(name)
                    for name in ("arrival_s", "departure_to_on_scene_s", "armed_to_on_scene_s")
                },
            },
            "sim": {
                "runs": len(self.sim_runs),
                "run_to_run_spread_pct": {
                    name: spread_pct(self.sim_runs, name)
                    for name in ("arrival_s", "departure_to_on_scene_s", "armed_to_on_scene_s")
                },
            },
            "calls": [c.as_json(self.same_speed) for c in self.comparisons],
            "worst_pct": {
                name: self.worst_pct(name)
                for name in ("arrival_s", "departure_to_on_scene_s", "armed_to_on_scene_s")
            },
            "judged_on": ["departure_to_on_scene_s", *(["arrival_s"] if self.same_speed else [])],
            "all_agree": self.all_agree,
            "tolerance_pct": AGREEMENT_PCT,
        }


async def run_bench(
    deployment: Deployment,
    calls: Sequence[ScenarioCall],
    sim: VehicleProvider,
    speed_factor: float,
    px4: VehicleProvider | None = None,
    px4_commit: str = "unknown",
    px4_runs: int = 1,
    reference: Reference | None = None,
    on_scene_s: float = ON_SCENE_S,
    px4_speed_factor: float | None = None,
    sim_runs: int = 1,
) -> BenchResult:
    """Fly `calls` on the simulator (`sim_runs` times) at `speed_factor` and compare the
    mean with PX4's: flown now (`px4`, `px4_runs` times at `px4_speed_factor`, by default
    the same) or `reference`. Raises FidelityError when neither covers the calls."""
    if px4 is not None:
        px4_speed = px4_speed_factor or speed_factor
        runs = []
        for _ in range(px4_runs):
            runs.append(await fly(deployment, calls, px4, px4_speed, on_scene_s))
        reference = Reference(
            px4_commit,
            px4_speed,
            on_scene_s,
            datetime.now(UTC).isoformat(timespec="seconds"),
            tuple(runs),
        )
    if reference is None:
        raise FidelityError("no PX4 figures: fly PX4 (--px4) or give recorded ones")
    if not reference.covers(calls):
        raise FidelityError(
            "the recorded PX4 figures are for other calls: fly PX4 (--px4) for these"
        )
    flown = []
    for _ in range(sim_runs):
        flown.append(await fly(deployment, calls, sim, speed_factor, reference.on_scene_s))
    sim_figures = [_mean_figures(per_call) for per_call in zip(*flown, strict=True)]
    return BenchResult(
        deployment.name,
        speed_factor,
        reference,
        px4 is not None,
        tuple(compare(reference.calls, sim_figures)),
        tuple(flown),
    )


def read_fidelity_calls(path: Path) -> list[ScenarioCall]:
    """The call set; raises FidelityError (a ScenarioError's message) for a bad file."""
    try:
        return read_calls(path)
    except ScenarioError as exc:
        raise FidelityError(str(exc)) from exc


def print_result(result: BenchResult) -> None:
    ref = result.reference
    source = "flown now" if result.live else f"recorded {ref.recorded_utc}"
    print(
        f"{result.deployment}: simulator x{result.speed_factor:g} ({len(result.sim_runs)} "
        f"run(s)) against PX4 SITL {ref.px4_commit[:8]} x{ref.speed_factor:g} ({source}, "
        f"{len(ref.runs)} run(s)); means, vehicle seconds"
    )
    print(
        f"  {'call':>4} {'station':<10} {'route':>6}  {'arrival from dispatch':>21}  "
        f"{'from departure':>21}  {'from arming':>21}  {'takeoff':>9} {'climb':>11} "
        f"{'cruise':>11} {'return':>11}"
    )
    print(
        f"  {'':>4} {'':<10} {'m':>6}  "
        + "  ".join(f"{'PX4':>6} {'sim':>6} {'diff':>7}" for _ in range(3))
        + f"  {'PX4/sim':>9} {'PX4/sim':>11} {'PX4/sim':>11} {'PX4/sim':>11}"
    )
    for c in result.comparisons:
        p, s = c.px4, c.sim

        def pair(name: str, p: CallFigures = p, s: CallFigures = s) -> str:
            return f"{_f(getattr(p, name))}/{_f(getattr(s, name))}"

        def trio(name: str, c: Comparison = c) -> str:
            px4, sim = getattr(c.px4, name), getattr(c.sim, name)
            return f"{_f(px4):>6} {_f(sim):>6} {_pct(c.difference_pct(name))}"

        station = p.station_id or "-"
        if s.station_id != p.station_id:
            station += f"≠{s.station_id}"
        print(
            f"  {c.call:>4} {station:<10} {_f(p.route_m, 0):>6}  {trio('arrival_s')}  "
            f"{trio('departure_to_on_scene_s')}  {trio('armed_to_on_scene_s')}  "
            f"{pair('takeoff_s'):>9} {pair('climb_s'):>11} {pair('cruise_s'):>11} "
            f"{pair('return_s'):>11}{'' if c.agrees(result.same_speed) else '  DIFFERS'}"
        )
    for who, runs in (("PX4", ref.runs), ("simulator", result.sim_runs)):
        if len(runs) > 1:
            spreads = ", ".join(
                f"{_f(spread_pct(runs, name))} % {label}"
                for name, label in (
                    ("arrival_s", "from dispatch"),
                    ("departure_to_on_scene_s", "from departure"),
                    ("armed_to_on_scene_s", "from arming"),
                )
            )
            print(f"  {who} run to run, the widest call: {spreads}")
    judged = "departure" + (" and dispatch" if result.same_speed else "")
    verdict = "every call agrees" if result.all_agree else "NOT every call agrees"
    print(
        f"  worst difference: {_f(result.worst_pct('arrival_s'), 2)} % from dispatch, "
        f"{_f(result.worst_pct('departure_to_on_scene_s'), 2)} % from departure, "
        f"{_f(result.worst_pct('armed_to_on_scene_s'), 2)} % from arming; {verdict} "
        f"(arrival from {judged} within {AGREEMENT_PCT:g} %)"
    )


def main(
    deployment: Deployment,
    calls_path: Path | None,
    sim: VehicleProvider,
    speed_factor: float,
    as_json: bool,
    px4: VehicleProvider | None = None,
    px4_commit: str = "unknown",
    px4_runs: int = 1,
    record: Path | None = None,
    px4_speed_factor: float | None = None,
    sim_runs: int = 1,
) -> int:
    """The command: 0 when every call agrees, 1 when one does not, 2 on bad input."""
    try:
        calls = read_fidelity_calls(calls_path or default_calls(deployment))
        reference = None if px4 is not None else read_reference(default_reference(deployment))
        result = asyncio.run(
            run_bench(
                deployment,
                calls,
                sim,
                speed_factor,
                px4=px4,
                px4_commit=px4_commit,
                px4_runs=px4_runs,
                reference=reference,
                px4_speed_factor=px4_speed_factor,
                sim_runs=sim_runs,
            )
        )
    except (FidelityError, ScenarioError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    if record is not None and result.live:
        write_reference(record, result.reference)
    if as_json:
        print(json.dumps(result.as_json()))
    else:
        print_result(result)
    return 0 if result.all_agree else 1


def _mean_figures(runs: Sequence[CallFigures]) -> CallFigures:
    first = runs[0]

    def mean(name: str) -> float | None:
        values = [v for f in runs if (v := getattr(f, name)) is not None]
        return round(statistics.fmean(values), 2) if values else None

    return CallFigures(
        first.latitude_deg,
        first.longitude_deg,
        first.station_id,
        first.route_m,
        **{name: mean(name) for name in TIMES},
    )


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: float | None) -> str:
    return f"{'-':>7}" if value is None else f"{value:+6.1f}%"
