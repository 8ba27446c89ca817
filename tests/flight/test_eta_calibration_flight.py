"""A drone's own flights calibrate its ETA: real sorties on the built-in simulator through
the operations service (SQLite store, dispatcher, flight executors), a deployment that
calibrates after two flights; a sortie the pilot held on the way does not count, and
the recommender then ranks the drone by its own figures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import load_deployment
from dfr.eta import estimate
from dfr.operations import Operations
from dfr.pilot_commands import PilotCommand
from dfr.store import NewCall
from missions.geo import GeoPoint
from missions.sortie import FINAL_STATES, SortieState
from tests.deployments import edited_pueblo
from tests.flight.conftest import SIM_SPEED, eventually, operations_on_simulator, wall_s

PILOT = Principal("pilot", Role.PILOT)
SCENES = ((38.2590, -104.6050), (38.2735, -104.6020), (38.2610, -104.5990))


async def fly(ops: Operations, scene: tuple[float, float], hold: bool = False) -> int:
    """Send hq's drone to `scene` and wait until it is back on its dock and released (the
    runner learns from the flight before it releases the drone); `hold`: the pilot holds
    it on the way, then resumes."""
    call = await ops.calls.create_call(NewCall(*scene, 1, "test"), PILOT.name)
    result = await ops.dispatch(call.id, PILOT, "hq")
    assert result.sortie is not None
    sortie_id = result.sortie.id
    if hold:
        active = ops.board.get(sortie_id)
        assert active is not None

        def en_route() -> bool:
            return active.executor is not None and active.executor.state is SortieState.EN_ROUTE

        await eventually("the drone is on its way", en_route, wall_s(60.0))
        await ops.command("dfr-1", PilotCommand("hold"), PILOT)
        await asyncio.sleep(10.0 / SIM_SPEED)  # ten vehicle seconds in the air, held
        await ops.command("dfr-1", PilotCommand("resume"), PILOT)
    async with asyncio.timeout(wall_s(400.0)):
        while (await ops.records.get_sortie(sortie_id)).state not in FINAL_STATES:  # noqa: ASYNC110 - a database row
            await asyncio.sleep(0.1)
        # Landed and docked are both final, and stored one after the other: the row may
        # say landed for a moment. The runner learns from the flight after the vehicle is
        # down and audits the release last, so the row is settled by then.
        while not await released(ops, sortie_id):  # noqa: ASYNC110 - an audit row
            await asyncio.sleep(0.1)
    record = await ops.records.get_sortie(sortie_id)
    assert record.state == "docked", [(e.state, e.cause, e.vehicle_s) for e in record.events]
    return sortie_id


async def released(ops: Operations, sortie_id: int) -> bool:
    entries = await ops.records.audit_log(500, 0)
    return any(e.action == "sortie.release" and e.subject == f"sortie:{sortie_id}" for e in entries)


async def test_a_drones_flights_calibrate_the_eta_it_is_ranked_by(tmp_path: Path) -> None:
    path = edited_pueblo(tmp_path, r"^calibrate_after_flights = .*$", "calibrate_after_flights = 2")
    path.write_text(path.read_text().replace("on_scene_s = 600", "on_scene_s = 5"))
    deployment = load_deployment(path)
    assert deployment.eta_calibration.min_flights == 2
    async with operations_on_simulator(tmp_path, deployment) as (ops, _):
        with ops.bus.subscribe() as events:
            await fly(ops, SCENES[0])
            first = ops.eta.of("dfr-1")
            assert (first.calibrated, first.kept) == (False, 1)
            await fly(ops, SCENES[1], hold=True)
            assert ops.eta.of("dfr-1") == first  # held on the way: no sample
            await fly(ops, SCENES[2])
            published = []
            while not events.empty():
                event = events.get_nowait()
                if event.kind == "eta_calibration":
                    published.append(event.data)

        mine = ops.eta.of("dfr-1")
        assert (mine.calibrated, mine.flights, mine.kept) == (True, 2, 2)
        samples = await ops.eta.samples("dfr-1")
        takeoffs = sorted(s.dispatch_to_takeoff_s for s in samples)
        assert mine.params.launch_latency_s == round(sum(takeoffs) / 2, 2)
        assert mine.params.horizontal_accel_m_s2 != deployment.eta.horizontal_accel_m_s2
        assert [(p["drone_id"], p["calibrated"], p["samples"]) for p in published] == [
            ("dfr-1", False, 1),
            ("dfr-1", True, 2),
        ]
        changes = [e for e in await ops.records.audit_log(500, 0) if e.action == "eta.calibration"]
        assert [(e.subject, e.details["flights"]) for e in changes] == [("drone:dfr-1", 2)]
        assert ops.eta_calibration("dfr-1")["calibrated"] is True

        # The recommender ranks dfr-1 by its own figures, the others by the deployment's.
        rec = await ops.recommend_point(GeoPoint(*SCENES[0]))
        by_drone = {c.drone_id: c for c in rec.candidates}
        hq = by_drone["dfr-1"]
        assert (hq.eta_calibrated, hq.eta_flights) == (True, 2)
        drone = deployment.station("hq").drone
        assert hq.eta_s == estimate(hq.route, drone, mine.params).total_s
        assert hq.eta_s != estimate(hq.route, drone, deployment.eta).total_s
        for other in ("dfr-2", "dfr-3"):
            assert (by_drone[other].eta_calibrated, by_drone[other].eta_flights) == (False, 0)
