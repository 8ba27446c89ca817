"""EIDO intake on a real SQLite store: a call per incident, versions, a moved scene."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from dfr.active_sorties import ActiveSortie, SortieBoard
from dfr.deployment import Deployment
from dfr.eido import NotAnEido, NoUsableLocation
from dfr.eido_intake import EidoIntake
from dfr.events import Event, EventBus
from dfr.store import Store, VersionOutcome
from missions.geo import GeoPoint
from missions.route import Route

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eido"


def body(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def older(name: str) -> bytes:
    """The fixture as a version from an hour before its own."""
    document = json.loads(body(name))
    document["lastUpdateTimeStamp"] = "2026-03-14T08:26:53.000-06:00"
    return json.dumps(document).encode()


@dataclass
class Retargets:
    """The operations service's re-tasking hook as it is today: nothing re-tasked."""

    asked: list[tuple[int, GeoPoint]]
    answer: bool = False

    async def __call__(self, active: ActiveSortie, scene: GeoPoint) -> bool:
        self.asked.append((active.record.id, scene))
        return self.answer


@dataclass
class Airborne:
    """Stands in for a sortie's flight executor: all the intake asks is its state."""

    state: str = "en_route"


def planned(pueblo: Deployment, start: GeoPoint, call) -> Route:
    plan = pueblo.planner.plan(start, GeoPoint(call.latitude_deg, call.longitude_deg))
    assert plan.route is not None
    return plan.route


@pytest.fixture
async def store(tmp_path: Path):
    async with Store.open(tmp_path / "dfr.sqlite") as opened:
        yield opened


def intake_for(store: Store, pueblo: Deployment, board: SortieBoard | None = None):
    bus, retargets = EventBus(), Retargets([])
    intake = EidoIntake(
        pueblo.eido, store, board if board is not None else SortieBoard(), bus, retargets
    )
    return intake, bus, retargets


def drain(queue: asyncio.Queue[Event]) -> list[Event]:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_an_incident_becomes_one_call_and_a_repeat_changes_nothing(store, pueblo) -> None:
    intake, bus, _ = intake_for(store, pueblo)
    with bus.subscribe() as events:
        first = await intake.take(body("point"), "eido")
        again = await intake.take(body("point"), "eido")
        published = drain(events)
    assert first.outcome is VersionOutcome.CREATED
    call = first.call
    assert (call.latitude_deg, call.longitude_deg) == (38.2544, -104.6091)
    assert call.priority == 1  # "Shooting" in Pueblo's [eido] priorities
    assert (call.source, call.call_type, call.status) == ("eido", "shooting", "new")
    assert call.external_id == "urn:emergency:uid:incidentid:4f2a91c7e0:pueblo-ecc.co.us"
    assert call.source_updated_at == "2026-03-14T15:26:53.000000+00:00"
    assert again.outcome is VersionOutcome.UNCHANGED
    assert again.call == call
    assert "already has this version" in again.detail
    assert [e.kind for e in published] == ["call"]  # the repeat is not announced
    assert len(await store.list_calls()) == 1


async def test_a_circle_keeps_its_radius_and_an_unlisted_type_the_default(store, pueblo) -> None:
    intake, _, _ = intake_for(store, pueblo)
    result = await intake.take(body("circle"), "eido")
    assert result.call.location_uncertainty_m == 75.0
    assert result.call.priority == 3  # "Burglary"


async def test_a_later_version_moves_the_call_and_is_audited(store, pueblo) -> None:
    intake, bus, retargets = intake_for(store, pueblo)
    first = await intake.take(body("point"), "eido")
    with bus.subscribe() as events:
        moved = await intake.take(body("point-moved"), "eido")
        published = drain(events)
    assert moved.outcome is VersionOutcome.UPDATED
    assert moved.call.id == first.call.id
    assert (moved.call.latitude_deg, moved.call.longitude_deg) == (38.2572, -104.6052)
    assert "shooter ran north" in moved.call.summary
    assert moved.moved_m is not None
    assert 400 < moved.moved_m < 500
    assert f"scene moved {moved.moved_m:.0f} m" in moved.detail
    # No drone on the call: the consoles get the new place, nobody is alerted.
    assert [e.kind for e in published] == ["call"]
    assert moved.alert is None
    assert retargets.asked == []
    update = [e for e in await store.audit_log() if e.action == "call.update"]
    assert len(update) == 1
    details = update[0].details
    assert details["moved_m"] == round(moved.moved_m, 1)
    assert details["changes"]["latitude_deg"] == {"from": 38.2544, "to": 38.2572}
    assert details["previous_version"] == first.call.source_updated_at


async def test_an_older_version_is_ignored_and_says_so(store, pueblo) -> None:
    intake, _, _ = intake_for(store, pueblo)
    await intake.take(body("point-moved"), "eido")
    stale = await intake.take(older("point"), "eido")
    assert stale.outcome is VersionOutcome.STALE
    assert "older than call" in stale.detail
    assert stale.call.latitude_deg == 38.2572  # still the later version's
    refused = [e for e in await store.audit_log() if e.action == "call.update"]
    assert refused[0].outcome == "refused"
    assert "older than the one stored" in refused[0].reason


@pytest.mark.parametrize(
    ("name", "error"), [("civic-only", NoUsableLocation), ("xxe", NoUsableLocation)]
)
async def test_a_refused_eido_stores_nothing(store, pueblo, name: str, error: type) -> None:
    intake, _, _ = intake_for(store, pueblo)
    with pytest.raises(error):
        await intake.take(body(name), "eido")
    with pytest.raises(NotAnEido):
        await intake.take_document({"$id": "x"}, "eido")
    assert await store.list_calls() == []


async def test_a_moved_scene_with_a_drone_on_it_alerts_the_pilot(store, pueblo) -> None:
    board = SortieBoard()
    intake, bus, retargets = intake_for(store, pueblo, board)
    call = (await intake.take(body("point"), "eido")).call
    station = pueblo.station("hq")
    await store.register_drones([(station.drone.id, station.id)])
    sortie = await store.reserve(station.drone.id, station.id, call.id, "disp")
    assert sortie is not None
    route = planned(pueblo, station.position, call)
    active = ActiveSortie(sortie, call, station, route, 60.0, executor=Airborne())  # type: ignore[arg-type]
    board.add(active)
    with bus.subscribe() as events:
        moved = await intake.take(body("point-moved"), "eido")
        published = drain(events)
    alerts = [e.data for e in published if e.kind == "alert"]
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["kind"] == "scene_moved"
    assert (alert["drone_id"], alert["call_id"], alert["sortie_id"]) == (
        "dfr-1",
        call.id,
        sortie.id,
    )
    assert (
        alert["message"]
        == f"call {call.id}: scene moved {moved.moved_m:.0f} m — re-plan with Reposition"
    )
    assert moved.alert == alert["message"]
    assert retargets.asked == [(sortie.id, GeoPoint(38.2572, -104.6052))]
    recorded = [e for e in await store.audit_log() if e.action == "call.scene_moved"]
    assert recorded[0].subject == f"sortie:{sortie.id}"
    assert recorded[0].details["retargeted"] is False
    assert recorded[0].details["to"] == [38.2572, -104.6052]


async def test_a_drone_waiting_for_its_pilot_is_not_re_tasked(store, pueblo) -> None:
    board = SortieBoard()
    intake, bus, retargets = intake_for(store, pueblo, board)
    call = (await intake.take(body("point"), "eido")).call
    station = pueblo.station("hq")
    await store.register_drones([(station.drone.id, station.id)])
    sortie = await store.reserve(station.drone.id, station.id, call.id, "disp")
    assert sortie is not None
    route = planned(pueblo, station.position, call)
    board.add(ActiveSortie(sortie, call, station, route, 60.0))  # not launched
    moved = await intake.take(body("point-moved"), "eido")
    assert retargets.asked == []
    assert moved.alert is not None
    assert "re-plan with Reposition" in moved.alert


async def test_concurrent_deliveries_of_one_incident_make_one_call(store, pueblo) -> None:
    intake, _, _ = intake_for(store, pueblo)
    results = await asyncio.gather(*(intake.take(body("point"), "eido") for _ in range(8)))
    assert sorted(r.outcome for r in results).count(VersionOutcome.CREATED) == 1
    assert len({r.call.id for r in results}) == 1
