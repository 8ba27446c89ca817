"""The public flight log from a real SQLite file: what a flight publishes, when it appears,
what holds do, and that nothing private leaks into the JSON, CSV or GeoJSON.

Sorties are written with the store's own methods (as the sortie runner writes them);
the log's clock is injected to step past the publication delay.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from dfr.deployment import Deployment
from dfr.public_formats import FLIGHT_FIELDS, log_csv, log_geojson, log_json
from dfr.public_log import PublicFlight, PublicLog, _Flight, monthly_figures, public_flight
from dfr.public_track import TrackSummary
from dfr.store import (
    Conflict,
    HoldKind,
    NewCall,
    NewVideoView,
    SortieEvent,
    SortieRecord,
    Store,
    TrackPoint,
)
from missions.geo import GeoPoint

HQ = GeoPoint(38.2659, -104.6097)
SCENE = GeoPoint(38.25913, -104.60487)
ADDRESS = "1234 Elm Street, apartment 5"
SUMMARY = f"Domestic disturbance at {ADDRESS}, caller Jane Q. Public"
DISPATCHER, PILOT, RTCC, ADMIN = "alice.dispatcher", "bob.pilot", "carol.rtcc", "dave.admin"
OFFICER_LINK = "share-link-7f3a9c"
HOLD_REASON = "Investigation 24-0815: victim's home"
PUBLIC_FIELDS = {
    "flight_id",
    "date",
    "launched_at",
    "landed_at",
    "duration_s",
    "station_id",
    "station",
    "category",
    "call_for_service",
    "priority",
    "call_to_scene_s",
    "distance_flown_m",
    "max_height_above_ground_m",
    "video_recorded",
    "held_as_evidence",
    "outcome",
    "track",
}


def track(sortie_id: int) -> list[TrackPoint]:
    """Out to the scene (climbing to 60 m), 30 s over it, and back: a sample a second."""
    out = [
        (
            HQ.latitude_deg + (SCENE.latitude_deg - HQ.latitude_deg) * i / 40,
            HQ.longitude_deg + (SCENE.longitude_deg - HQ.longitude_deg) * i / 40,
            min(60.0, 3.0 * i),
        )
        for i in range(41)
    ]
    over = [(SCENE.latitude_deg, SCENE.longitude_deg, 60.0)] * 30
    samples = out + over + [(lat, lon, alt) for lat, lon, alt in reversed(out)]
    return [
        TrackPoint(
            sortie_id=sortie_id,
            at_utc=f"2025-01-01T00:{i // 60:02d}:{i % 60:02d}.000Z",
            vehicle_s=float(i),
            latitude_deg=lat,
            longitude_deg=lon,
            alt_amsl_m=1430.0 + alt,
            alt_above_station_m=alt,
            heading_deg=None,
            ground_speed_m_s=None,
            flight_mode="MISSION",
            battery_pct=90.0,
            target_latitude_deg=SCENE.latitude_deg,
            target_longitude_deg=SCENE.longitude_deg,
        )
        for i, (lat, lon, alt) in enumerate(samples)
    ]


async def fly(
    store: Store,
    call: NewCall,
    *,
    states: tuple[str, ...] = ("launching", "en_route", "on_scene", "returning", "landed"),
    final: str = "docked",
    recorded: bool = False,
    drone: str = "dfr-1",
) -> int:
    """A sortie for `call` written as the sortie runner writes one; its id."""
    record = await store.add_call(call, DISPATCHER)
    await store.register_drones([(drone, "hq")])
    sortie = await store.reserve(drone, "hq", record.id, DISPATCHER, eta_s=60.0)
    assert sortie is not None
    await store.add_share_link(OFFICER_LINK + str(sortie.id), record.id, DISPATCHER)
    await store.mark_launched(sortie.id, PILOT)
    view = NewVideoView(
        "Officer Jane Roe", "officer", OFFICER_LINK + str(sortie.id), "dfr-1", record.id,
        sortie.id, "203.0.113.9",
    )  # fmt: skip
    await store.start_video_view(view)
    for i, state in enumerate(states):
        await store.record_sortie_state(sortie.id, state, f"{state} by {PILOT}", float(i))
    if any(s in states for s in ("en_route", "on_scene", "returning")):
        await store.add_track_points(track(sortie.id))
    if recorded:
        manifest = {"sortie_id": sortie.id, "sha256": "ab" * 32, "operator": PILOT}
        await store.audit("system", "recording.saved", f"sortie:{sortie.id}", manifest)
    if final:
        await store.release(sortie.id, final, "system", f"back home, {PILOT}")
    return sortie.id


def later(hours: float):
    return lambda: datetime.now(UTC) + timedelta(hours=hours)


@pytest.fixture
async def store(tmp_path):
    async with Store.open(tmp_path / "dfr.sqlite") as opened:
        yield opened


def cad(call_type: str | None, priority: int = 2) -> NewCall:
    return NewCall(
        SCENE.latitude_deg, SCENE.longitude_deg, priority, "cad", SUMMARY, "CAD-991", call_type
    )


async def test_a_flight_appears_once_the_delay_has_passed(store, pueblo) -> None:
    assert pueblo.public_log.delay_h == 24
    flown = await fly(store, cad("burglary"))
    assert (await PublicLog(store, pueblo, later(23.9)).view()).flights == ()
    published = (await PublicLog(store, pueblo, later(24.1)).view()).flights
    assert [f.flight_id for f in published] == [flown]
    at_once = replace(pueblo, public_log=pueblo.public_log.model_copy(update={"delay_h": 0}))
    assert len((await PublicLog(store, at_once).view()).flights) == 1


async def test_only_ended_sorties_that_flew_are_flights(store, pueblo) -> None:
    on_scene = ("launching", "en_route", "on_scene")
    flying = await fly(store, cad("robbery"), states=on_scene, final="", drone="spare")
    grounded = await fly(store, cad("robbery"), states=("launching", "fault"), final="fault")
    log = await PublicLog(store, pueblo, later(48)).view()
    assert {flying, grounded}.isdisjoint(f.flight_id for f in log.flights)
    assert (log.flights, log.held_back) == ((), 0)


async def test_a_held_flight_is_absent_counted_and_back_once_released(store, pueblo) -> None:
    kept = await fly(store, cad("assault"))
    other = await fly(store, cad("theft"))
    await store.place_hold(HoldKind.PUBLICATION, kept, ADMIN, HOLD_REASON)
    with pytest.raises(Conflict):
        await store.place_hold(HoldKind.PUBLICATION, kept, ADMIN, "again")
    log = await PublicLog(store, pueblo, later(25)).view()
    assert [f.flight_id for f in log.flights] == [other]
    assert log.held_back == 1
    assert sum(m.flights for m in log.months) == 1  # nor in the monthly figures
    assert "Violent crime" not in json.dumps(log_json(log))

    # Too young to publish: not counted as held back either (that would announce it).
    young = await fly(store, cad("fire"))
    await store.place_hold(HoldKind.PUBLICATION, young, ADMIN, HOLD_REASON)
    assert (await PublicLog(store, pueblo, later(0)).view()).held_back == 0

    await store.lift_hold(HoldKind.PUBLICATION, kept, ADMIN, "investigation closed")
    with pytest.raises(Conflict):
        await store.lift_hold(HoldKind.PUBLICATION, kept, ADMIN, "twice")
    log = await PublicLog(store, pueblo, later(25)).view()
    assert {f.flight_id for f in log.flights} == {kept, other}
    assert log.held_back == 1  # the young one, now old enough
    audit = [(e.actor, e.action, e.details.get("reason")) for e in await store.audit_log()]
    assert (ADMIN, "publication_hold.place", HOLD_REASON) in audit
    assert (ADMIN, "publication_hold.lift", "investigation closed") in audit


async def test_what_a_flight_publishes(store, pueblo) -> None:
    mapped = await fly(store, cad("Shots_Fired", priority=1), recorded=True)
    unmapped = await fly(store, cad("noise_complaint", priority=4))
    untyped = await fly(store, cad(None, priority=3))
    training = await fly(
        store,
        NewCall(SCENE.latitude_deg, SCENE.longitude_deg, 1, "map", "launch", purpose="training"),
    )
    await store.place_hold(HoldKind.EVIDENCE, mapped, RTCC, HOLD_REASON)
    log = await PublicLog(store, pueblo, later(25)).view()
    by_id = {f.flight_id: f for f in log.flights}

    shots = by_id[mapped]
    assert (shots.category, shots.priority, shots.call_for_service) == (
        "Weapons and shots fired",
        1,
        True,
    )
    assert (shots.video_recorded, shots.held_as_evidence) == (True, True)
    assert (shots.station_id, shots.station, shots.outcome) == (
        "hq",
        "PPD Headquarters",
        "completed",
    )
    assert shots.call_to_scene_s is not None
    assert shots.call_to_scene_s >= 0
    assert shots.max_height_above_ground_m == 60
    # Out and back, about 900 m each way, from the full track.
    assert 1700 <= shots.distance_flown_m <= 1900
    assert shots.distance_flown_m % 10 == 0
    assert 3 <= len(shots.track) <= 40
    assert shots.launched_at.endswith(("-07:00", "-06:00"))  # Pueblo's zone: Denver

    assert by_id[unmapped].category == "Other call for service"
    assert by_id[untyped].category == "Other call for service"
    assert (by_id[unmapped].video_recorded, by_id[unmapped].held_as_evidence) == (False, False)
    plan = by_id[training]
    assert (plan.category, plan.call_for_service, plan.priority, plan.call_to_scene_s) == (
        "Training",
        False,
        None,
        None,
    )
    assert log.months[0].by_category[0] == ("Other call for service", 2)


async def test_no_public_output_leaks_what_is_private(store, pueblo) -> None:
    flown = await fly(store, cad("welfare_check"), recorded=True)
    await store.place_hold(HoldKind.EVIDENCE, flown, RTCC, HOLD_REASON)
    log = await PublicLog(store, pueblo, later(25)).view()
    assert len(log.flights) == 1
    as_json = log_json(log)
    outputs = {
        "json": json.dumps(as_json),
        "csv": log_csv(log),
        "geojson": json.dumps(log_geojson(log)),
    }
    private = [
        SUMMARY,
        ADDRESS,
        "Elm",
        "Jane",
        "CAD-991",
        "welfare",
        DISPATCHER,
        PILOT,
        RTCC,
        ADMIN,
        "Officer",
        OFFICER_LINK,
        "203.0.113",
        HOLD_REASON,
        "24-0815",
        "ab" * 32,
    ]
    exact = [f"{SCENE.latitude_deg:.{n}f}" for n in (4, 5)]
    exact += [f"{SCENE.longitude_deg:.{n}f}" for n in (4, 5)]
    for name, text in outputs.items():
        for secret in private + exact:
            assert secret.lower() not in text.lower(), f"{name} leaks {secret!r}"
    (flight,) = as_json["flights"]
    assert set(flight) == PUBLIC_FIELDS
    rows = list(csv.DictReader(io.StringIO(outputs["csv"])))
    assert set(rows[0]) == set(FLIGHT_FIELDS) == PUBLIC_FIELDS - {"track"}
    (feature,) = log_geojson(log)["features"]
    assert set(feature["properties"]) == PUBLIC_FIELDS - {"track"}
    assert feature["geometry"]["coordinates"] == flight["track"]


def _sortie(events: list[tuple[str, str]], launched_at: str) -> SortieRecord:
    return SortieRecord(
        id=9,
        call_id=3,
        drone_id="dfr-1",
        station_id="bessemer",
        state=events[-1][1],
        created_at=launched_at,
        created_by=DISPATCHER,
        eta_s=60.0,
        route={},
        launched_by=PILOT,
        launched_at=launched_at,
        events=tuple(SortieEvent(at, state, None, "") for at, state in events),
    )


def test_times_are_local_and_measured_from_the_call(pueblo: Deployment) -> None:
    # Late on 31 January in Pueblo is already 1 February in UTC.
    call = cad("pursuit", priority=1)
    record = _call_record(call, created_at="2025-02-01T04:58:30+00:00")
    events = [
        ("2025-02-01T05:00:10+00:00", "launching"),
        ("2025-02-01T05:00:14+00:00", "en_route"),
        ("2025-02-01T05:00:58+00:00", "on_scene"),
        ("2025-02-01T05:10:00+00:00", "returning"),
        ("2025-02-01T05:11:30+00:00", "landed"),
        ("2025-02-01T05:11:40+00:00", "docked"),
    ]
    sortie = _sortie(events, launched_at="2025-02-01T05:00:00+00:00")
    flight = _Flight(sortie, record, datetime.fromisoformat(events[-1][0]))
    summary = TrackSummary(1234.0, 61.4, ((-104.6, 38.26), (-104.61, 38.25)))
    out = public_flight(flight, pueblo, summary, video_recorded=False, held_as_evidence=False)
    assert (out.date, out.launched_at, out.landed_at) == (
        "2025-01-31",
        "2025-01-31T22:00-07:00",
        "2025-01-31T22:11-07:00",
    )
    assert out.duration_s == 11 * 60 + 30
    assert out.call_to_scene_s == 148  # from the call, not the launch
    assert (out.category, out.station, out.priority) == (
        "Traffic",
        "Bessemer (Mesa Ave & Elm St)",
        1,
    )
    assert (out.distance_flown_m, out.max_height_above_ground_m) == (1230, 61)


def _call_record(call: NewCall, created_at: str):
    from dfr.store import CallRecord

    return CallRecord(
        id=3,
        created_at=created_at,
        latitude_deg=call.latitude_deg,
        longitude_deg=call.longitude_deg,
        priority=call.priority,
        source=call.source,
        summary=call.summary,
        external_id=call.external_id,
        status="dispatched",
        call_type=call.call_type,
        purpose=call.purpose,
    )


def _flight(month: str, category: str, to_scene: int | None) -> PublicFlight:
    return PublicFlight(
        flight_id=1,
        date=f"{month}-15",
        launched_at="",
        landed_at="",
        duration_s=600,
        station_id="hq",
        station="HQ",
        category=category,
        call_for_service=to_scene is not None,
        priority=None,
        call_to_scene_s=to_scene,
        distance_flown_m=0,
        max_height_above_ground_m=None,
        video_recorded=False,
        held_as_evidence=False,
        outcome="completed",
        track=(),
    )


def test_monthly_figures() -> None:
    flights = [
        _flight("2025-03", "Traffic", 70),
        _flight("2025-03", "Property crime", 90),
        _flight("2025-03", "Traffic", 200),
        _flight("2025-03", "Training", None),
        _flight("2025-04", "Training", None),
    ]
    april, march = monthly_figures(flights)
    assert (march.month, march.flights, march.median_call_to_scene_s) == ("2025-03", 4, 90)
    assert march.by_category == (("Traffic", 2), ("Property crime", 1), ("Training", 1))
    assert (april.month, april.flights, april.median_call_to_scene_s) == ("2025-04", 1, None)
