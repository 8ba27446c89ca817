"""The public flight log: every flight dfr flew, as anyone may see it without logging in.

A flight is a sortie that ended after its drone was in the air. It is published
`[public_log] delay_h` after it ended, unless an admin holds it back (how many are
held back is published). What is published of it is chosen field by field
(`PublicFlight`): times, station, a public category (the deployment's category of its
call's type, or the purpose of a launch without a call), priority, call to scene,
distance, height, a coarse track (`dfr.public_track`), whether video was recorded and
whether it is held as evidence. Never the call's text, its exact place, a user's name,
an officer or a share link: those are not read into it at all.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

from dfr.deployment import Deployment
from dfr.public_track import TrackSummary, summarise_track
from dfr.purposes import LaunchPurpose
from dfr.store import CallRecord, HoldKind, SortieEvent, SortieRecord, Store
from missions.sortie import AIRBORNE_STATES, FINAL_STATES, SortieState

Clock = Callable[[], datetime]

#: How a sortie's final state reads in the log.
OUTCOMES: dict[str, str] = {
    SortieState.DOCKED: "completed",
    SortieState.LANDED: "completed",
    SortieState.ABORTED: "aborted",
    SortieState.FAULT: "fault",
}
_AIRBORNE = {str(s) for s in AIRBORNE_STATES}
_FINAL = {str(s) for s in FINAL_STATES}


@dataclass(frozen=True, slots=True)
class PublicFlight:
    """One published flight. Times are local (the deployment's time zone), to the minute."""

    flight_id: int  # the sortie's number, as the department's own records cite it
    date: str  # of the launch, YYYY-MM-DD
    launched_at: str
    landed_at: str
    duration_s: int  # launch to landing
    station_id: str
    station: str
    category: str
    call_for_service: bool  # False: a launch without a call (its purpose is the category)
    priority: int | None  # the call's, 1 most urgent; None without a call
    call_to_scene_s: int | None  # call received → drone on scene; None if it never got there
    distance_flown_m: int  # to the nearest 10 m
    max_height_above_ground_m: int | None  # above the station's ground, to the metre
    video_recorded: bool
    held_as_evidence: bool
    outcome: str  # completed, aborted or fault
    track: tuple[tuple[float, float], ...]  # coarse (lon, lat), see dfr.public_track


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: str  # YYYY-MM, local
    flights: int
    median_call_to_scene_s: int | None  # over the calls for service that reached the scene
    by_category: tuple[tuple[str, int], ...]  # most flights first


@dataclass(frozen=True, slots=True)
class PublicLogView:
    agency: str
    generated_at: str
    time_zone: str
    delay_h: float
    track_grid_m: float
    held_back: int  # flights old enough to publish that an admin holds back
    flights: tuple[PublicFlight, ...]  # newest first
    months: tuple[MonthFigures, ...]  # newest first


@dataclass(frozen=True, slots=True)
class _Flight:
    """A sortie that flew and ended, before the delay and the holds are applied."""

    sortie: SortieRecord
    call: CallRecord | None
    ended_at: datetime


class PublicLog:
    """Builds the published log from the store; a track is summarised once per sortie
    (an ended sortie's track does not change)."""

    def __init__(self, store: Store, deployment: Deployment, now: Clock | None = None) -> None:
        self._store = store
        self._deployment = deployment
        self._now = now or (lambda: datetime.now(UTC))
        self._tracks: dict[int, TrackSummary] = {}

    async def view(self) -> PublicLogView:
        """The log as published now."""
        d = self._deployment
        now = self._now()
        cutoff = now - timedelta(hours=d.public_log.delay_h)
        flown = [f for f in await self._flights() if f.ended_at <= cutoff]
        held_back = await self._store.held_sorties(HoldKind.PUBLICATION)
        evidence = await self._store.held_sorties(HoldKind.EVIDENCE)
        recorded = await self._store.recorded_sorties()
        published = []
        for flight in flown:
            if flight.sortie.id in held_back:
                continue
            track = await self._track(flight.sortie.id)
            published.append(
                public_flight(
                    flight,
                    d,
                    track,
                    video_recorded=flight.sortie.id in recorded,
                    held_as_evidence=flight.sortie.id in evidence,
                )
            )
        published.sort(key=lambda f: (f.launched_at, f.flight_id), reverse=True)
        return PublicLogView(
            agency=d.name,
            generated_at=now.astimezone(d.public_log.zone).isoformat(timespec="seconds"),
            time_zone=d.public_log.time_zone,
            delay_h=d.public_log.delay_h,
            track_grid_m=d.public_log.track_grid_m,
            held_back=sum(1 for f in flown if f.sortie.id in held_back),
            flights=tuple(published),
            months=monthly_figures(published),
        )

    async def _flights(self) -> list[_Flight]:
        out = []
        for sortie, call in await self._store.ended_sorties(_FINAL):
            if not any(e.state in _AIRBORNE for e in sortie.events):
                continue  # never left the ground: not a flight
            out.append(_Flight(sortie, call, _parse(sortie.events[-1].at)))
        return out

    async def _track(self, sortie_id: int) -> TrackSummary:
        if sortie_id not in self._tracks:
            d = self._deployment
            points = await self._store.track(sortie_id)
            self._tracks[sortie_id] = summarise_track(
                points, d.airspace.frame, d.public_log.track_grid_m
            )
        return self._tracks[sortie_id]


def public_flight(
    flight: _Flight,
    deployment: Deployment,
    track: TrackSummary,
    *,
    video_recorded: bool,
    held_as_evidence: bool,
) -> PublicFlight:
    """What the log publishes of one flight (and nothing else of it)."""
    sortie, call = flight.sortie, flight.call
    zone = deployment.public_log.zone
    launched = _launched_at(sortie)
    landed = _landed_at(sortie.events) or flight.ended_at
    on_scene = _first(sortie.events, {str(SortieState.ON_SCENE)})
    purpose = _purpose(call)
    for_call = call is not None and purpose is None
    if purpose is not None:
        category = purpose.label
    else:
        category = deployment.public_category(call.call_type if call else None)
    try:
        station = deployment.station(sortie.station_id).name
    except KeyError:  # a station since removed from the deployment
        station = sortie.station_id
    return PublicFlight(
        flight_id=sortie.id,
        date=launched.astimezone(zone).date().isoformat(),
        launched_at=_minute(launched, zone),
        landed_at=_minute(landed, zone),
        duration_s=max(0, round((landed - launched).total_seconds())),
        station_id=sortie.station_id,
        station=station,
        category=category,
        call_for_service=for_call,
        priority=call.priority if for_call and call is not None else None,
        call_to_scene_s=(
            max(0, round((on_scene - _parse(call.created_at)).total_seconds()))
            if for_call and call is not None and on_scene is not None
            else None
        ),
        distance_flown_m=int(round(track.distance_flown_m, -1)),
        max_height_above_ground_m=(
            None if track.max_height_m is None else max(0, round(track.max_height_m))
        ),
        video_recorded=video_recorded,
        held_as_evidence=held_as_evidence,
        outcome=OUTCOMES.get(sortie.state, sortie.state),
        track=track.path_lonlat,
    )


def monthly_figures(flights: Iterable[PublicFlight]) -> tuple[MonthFigures, ...]:
    """Flights, median call to scene and flights by category, per month, newest first."""
    by_month: dict[str, list[PublicFlight]] = {}
    for f in flights:
        by_month.setdefault(f.date[:7], []).append(f)
    figures = []
    for month in sorted(by_month, reverse=True):
        group = by_month[month]
        times = [f.call_to_scene_s for f in group if f.call_to_scene_s is not None]
        counts = Counter(f.category for f in group)
        figures.append(
            MonthFigures(
                month=month,
                flights=len(group),
                median_call_to_scene_s=round(statistics.median(times)) if times else None,
                by_category=tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))),
            )
        )
    return tuple(figures)


def _purpose(call: CallRecord | None) -> LaunchPurpose | None:
    if call is None or call.purpose is None:
        return None
    try:
        return LaunchPurpose(call.purpose)
    except ValueError:
        return None


def _parse(at: str) -> datetime:
    parsed = datetime.fromisoformat(at)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _minute(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).isoformat(timespec="minutes")


def _first(events: Iterable[SortieEvent], states: set[str]) -> datetime | None:
    return next((_parse(e.at) for e in events if e.state in states), None)


def _launched_at(sortie: SortieRecord) -> datetime:
    if sortie.launched_at is not None:
        return _parse(sortie.launched_at)
    launching = _first(sortie.events, {str(SortieState.LAUNCHING)})
    return launching or _parse(sortie.created_at)


def _landed_at(events: tuple[SortieEvent, ...]) -> datetime | None:
    """The first landing after the drone was last in the air (landed, else docked)."""
    last_airborne = max(i for i, e in enumerate(events) if e.state in _AIRBORNE)
    after = events[last_airborne + 1 :]
    return _first(after, {str(SortieState.LANDED)}) or _first(after, {str(SortieState.DOCKED)})
