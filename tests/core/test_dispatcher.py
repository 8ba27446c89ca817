"""Dispatcher and store on a real SQLite file and a real PostgreSQL database: stored before
acknowledged, atomic reservations (two processes racing for one drone on both), a queue
served when a drone frees up, an append-only audit log, and survival across restarts."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
from pathlib import Path

import pytest

from dfr.db_connection import IntegrityError, connect
from dfr.dispatcher import Dispatcher, DroneTaken, StationUnavailable, UnknownStation, Unservable
from dfr.recommend import DroneAvailability
from dfr.store import Conflict, NewCall, NotFound, Store
from missions.geo import CoordinateError

DOWNTOWN = NewCall(38.2544, -104.6091, priority=2, source="cad", summary="burglary in progress")


async def test_call_is_on_disk_before_it_is_acknowledged_and_survives_restart(
    store_url, pueblo
) -> None:
    db = store_url
    async with Store.open(db) as store:
        call = await Dispatcher(pueblo, store).create_call(DOWNTOWN, actor="disp1")
        # A second, independent connection sees it at once.
        other = connect(db)
        row = other.execute("SELECT summary FROM calls WHERE id = ?", (call.id,)).fetchone()
        other.close()
        assert tuple(row) == ("burglary in progress",)
    async with Store.open(db) as store:
        again = await store.get_call(call.id)
        assert again == call
        assert [e.action for e in await store.audit_log()] == ["call.create"]
        assert (await store.audit_log())[0].actor == "disp1"


async def test_bad_call_is_refused_and_nothing_is_lost(store_url, pueblo) -> None:
    async with Store.open(store_url) as store:
        d = Dispatcher(pueblo, store)
        kept = await d.create_call(DOWNTOWN, "disp1")
        with pytest.raises(CoordinateError, match="latitude 200"):
            await d.create_call(NewCall(200.0, -104.6), "disp1")
        assert await store.list_calls() == [kept]
        with pytest.raises(NotFound):
            await d.dispatch(999, "disp1")


async def test_dispatch_takes_the_best_drone_and_records_everything(store_url, pueblo) -> None:
    async with Store.open(store_url) as store:
        d = Dispatcher(pueblo, store)
        await d.start()
        call = await d.create_call(DOWNTOWN, "disp1")
        result = await d.dispatch(call.id, "disp1")
        assert not result.queued
        assert result.candidate.station_id == "hq"
        assert result.sortie.station_id == "hq"
        assert result.call.status == "dispatched"
        # inclusion + exclusions: the fence is there to upload
        assert len(result.candidate.route.fence.polygons) >= 2
        sortie = await store.get_sortie(result.sortie.id)
        assert sortie.state == "reserved"
        assert sortie.route["type"] == "LineString"
        assert (await d.availability())["hq"].sortie_id == str(sortie.id)
        with pytest.raises(Conflict, match="dispatched"):
            await d.dispatch(call.id, "disp2")
        actions = [e.action for e in await store.audit_log()]
        assert actions == ["call.create", "sortie.dispatch"]


async def test_chosen_station_errors(store_url, pueblo) -> None:
    async with Store.open(store_url) as store:
        d = Dispatcher(
            pueblo, store, availability=lambda: {"eastside": DroneAvailability(online=False)}
        )
        await d.start()
        first = await d.create_call(DOWNTOWN, "disp1")
        second = await d.create_call(DOWNTOWN, "disp1")
        await d.dispatch(first.id, "disp1", station_id="hq")
        with pytest.raises(DroneTaken):
            await d.dispatch(second.id, "disp2", station_id="hq")
        with pytest.raises(StationUnavailable, match="offline"):
            await d.dispatch(second.id, "disp2", station_id="eastside")
        with pytest.raises(UnknownStation):
            await d.dispatch(second.id, "disp2", station_id="nowhere")
        assert (await store.get_call(second.id)).status == "new"


async def test_concurrent_dispatches_never_share_a_drone_and_the_rest_queue(
    store_url, pueblo
) -> None:
    async with (
        Store.open(store_url) as store_a,
        Store.open(store_url) as store_b,
    ):
        a, b = Dispatcher(pueblo, store_a), Dispatcher(pueblo, store_b)
        await a.start()
        calls = [await a.create_call(DOWNTOWN, "disp1") for _ in range(8)]
        results = await asyncio.gather(
            *[(a if i % 2 else b).dispatch(c.id, f"disp{i % 2}") for i, c in enumerate(calls)]
        )
        flying = [r for r in results if not r.queued]
        assert len(flying) == 3
        assert len({r.sortie.drone_id for r in flying}) == 3
        assert (
            sorted(c.status for c in await store_a.list_calls())
            == ["dispatched"] * 3 + ["queued"] * 5
        )

        # A drone frees up: the most urgent (then oldest) queued call gets it.
        urgent = await a.create_call(NewCall(38.2544, -104.6091, priority=1), "disp1")
        assert (await a.dispatch(urgent.id, "disp1")).queued
        served = await a.release(flying[0].sortie.id, "docked", "pilot1", "landed")
        assert [r.call.id for r in served] == [urgent.id]
        assert len(await store_a.queued_calls()) == 5


def _reserve_in_process(db: str, drone: str, call_id: int, barrier, out) -> None:
    async def go() -> None:
        async with Store.open(db) as store:
            barrier.wait()
            sortie = await store.reserve(drone, "hq", call_id, f"proc{call_id}")
            out.put(sortie.id if sortie else None)

    asyncio.run(go())


async def test_two_processes_racing_for_one_drone(store_url, pueblo) -> None:
    db = store_url
    async with Store.open(db) as store:
        await Dispatcher(pueblo, store).start()
        calls = [await store.add_call(DOWNTOWN, "disp") for _ in range(4)]
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(4), ctx.Queue()
    procs = [
        ctx.Process(target=_reserve_in_process, args=(db, "dfr-1", c.id, barrier, out))
        for c in calls
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert sum(r is not None for r in results) == 1
    async with Store.open(db) as store:
        assert len(await store.list_sorties()) == 1


async def test_audit_log_is_append_only(store_url) -> None:
    async with Store.open(store_url) as store:
        await store.audit("admin", "login")
    conn = connect(store_url)
    with pytest.raises(IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET actor = 'someone else'")
    with pytest.raises(IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit")
    conn.close()


async def test_unservable_call_is_not_queued(store_url, pueblo) -> None:
    async with Store.open(store_url) as store:
        d = Dispatcher(pueblo, store)
        await d.start()
        call = await d.create_call(NewCall(38.2850, -104.5150), "disp1")
        with pytest.raises(Unservable, match="KPUB"):
            await d.dispatch(call.id, "disp1")
        assert (await store.get_call(call.id)).status == "new"


async def test_store_close_twice_is_safe(tmp_path: Path) -> None:
    store = Store(tmp_path / "x.sqlite")
    await store.start()
    await store.close()
    await store.close()


async def test_a_flying_drone_is_re_tasked_by_a_dispatch_never_by_the_queue(
    store_url, pueblo
) -> None:
    from dfr.recommend import AirborneDrone

    async with Store.open(store_url) as store:
        busy = {"hq": DroneAvailability(), "bessemer": DroneAvailability(online=False)}
        busy["eastside"] = DroneAvailability(online=False)
        flying: dict[str, AirborneDrone] = {}
        d = Dispatcher(pueblo, store, availability=lambda: busy, airborne=lambda: flying)
        await d.start()
        first = await d.create_call(DOWNTOWN, "disp1")
        sent = await d.dispatch(first.id, "disp1", "hq")
        assert sent.sortie is not None
        for state in ("launching", "en_route", "on_scene", "returning"):
            await store.record_sortie_state(sent.sortie.id, state)
        flying["hq"] = AirborneDrone(
            sortie_id=sent.sortie.id, sortie_state="returning", call_id=first.id,
            call_priority=2, position=pueblo.station("hq").position, altitude_m=60.0,
            velocity_north_m_s=0.0, velocity_east_m_s=0.0, battery_pct=90.0,
        )  # fmt: skip
        queued = await d.create_call(NewCall(38.2600, -104.6000, 1, "cad", "queued"), "disp1")
        await store.set_call_status(queued.id, "queued", "disp1")
        assert await d.serve_queue("system") == []  # nobody clicked: no re-task
        assert (await store.get_call(queued.id)).status == "queued"
        result = await d.dispatch(queued.id, "disp1")  # a dispatcher's click does
        assert result.retasked_from is not None
        assert result.sortie is not None
        assert result.sortie.id == sent.sortie.id
        assert result.sortie.call_id == queued.id
