"""A restart loses nothing: calls and audit survive, a drone an old sortie held is reclaimed
once it is found on its dock, and a call left queued is served."""

from __future__ import annotations

import asyncio
import time

from fastapi.testclient import TestClient

from dfr.cli import server_app
from dfr.deployment import load_deployment
from dfr.dispatcher import Dispatcher
from dfr.store import NewCall, Store
from tests.api.conftest import login, make_settings, wait_healthy


async def _leave_a_crashed_run_behind(db) -> tuple[int, int]:
    async with Store.open(db) as store:
        await Dispatcher(load_deployment(), store).start()
        flying = await store.add_call(NewCall(38.2590, -104.6050, 1, "cad", "old call"), "disp")
        sortie = await store.reserve("dfr-1", "hq", flying.id, "disp")
        waiting = await store.add_call(NewCall(38.2600, -104.6060, 1, "cad", "queued"), "disp")
        await store.set_call_status(waiting.id, "queued", "disp")
    return sortie.id, waiting.id


def test_restart_reclaims_docked_drones_and_serves_the_queue(tmp_path) -> None:
    settings = make_settings(tmp_path)
    settings.state_dir.mkdir(parents=True)
    old_sortie, waiting = asyncio.run(_leave_a_crashed_run_behind(settings.database_path))
    with TestClient(server_app(settings)) as client:
        wait_healthy(client)
        headers = login(client, "disp")
        deadline = time.monotonic() + 60
        while client.get(f"/api/calls/{waiting}", headers=headers).json()["status"] != "dispatched":
            assert time.monotonic() < deadline, "the queued call was not served"
            time.sleep(0.2)
        old = client.get(f"/api/sorties/{old_sortie}", headers=headers).json()
        assert old["state"] == "docked"
        assert old["events"][-1]["cause"].startswith("found after a restart: disarmed")
        audit = [e["action"] for e in client.get("/api/audit", headers=headers).json()]
        assert audit[:2] == ["call.create", "sortie.dispatch"]
