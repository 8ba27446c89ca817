"""Dock preparation sets each docked drone's parameters and its station's fence ahead of
any call, and a dispatch then only uploads the mission, verified by the checksum the
vehicle reports. A set-up someone changes on the dock is prepared again. Real SQLite,
real MAVSDK links, the built-in simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import load_deployment
from dfr.operations import Operations
from dfr.services import open_services
from dfr.settings import Settings
from dfr.store import NewCall
from missions.mission_plan import ParamSetting, ParamType, item_differences
from missions.sortie import SortieState
from sitl.mission_items import FENCE
from tests import simulator
from tests.flight.conftest import SIM_SPEED, eventually, reach, wall_s

DISPATCHER = Principal("disp", Role.DISPATCHER)
NEAR_HQ = (38.2640, -104.6080)


@asynccontextmanager
async def operations(
    tmp_path: Path,
) -> AsyncIterator[tuple[Operations, simulator.InProcessVehicles]]:
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    settings = Settings(state_dir=tmp_path, users_file=users, secret_key="test")
    vehicles = simulator.InProcessVehicles(SIM_SPEED)
    deployment = replace(load_deployment(None), launch_policy="immediate")
    async with (
        open_services(settings, deployment, vehicles) as services,
        Operations.running(services, settings) as ops,
    ):
        await ops.wait_docks_prepared(wall_s(60.0))
        yield ops, vehicles


async def test_a_dispatch_uploads_only_the_mission_when_the_dock_holds_the_rest(
    tmp_path: Path,
) -> None:
    async with operations(tmp_path) as (ops, vehicles):
        setup = ops.dock.setup("hq")
        assert setup is not None
        assert setup.doubt(setup.link) is None
        held = vehicles.by_station["hq"].missions.get(FENCE)
        assert setup.fence_items
        assert item_differences(setup.fence_items, held) == ()

        call = await ops.calls.create_call(NewCall(*NEAR_HQ, 1, "test"), DISPATCHER.name)
        result = await ops.dispatch(call.id, DISPATCHER)
        assert result.sortie is not None
        await eventually("the sortie launches", lambda: ops.board.for_station("hq"), 5.0)
        active = ops.board.for_station("hq")
        assert active is not None
        ex = active.executor
        assert ex is not None
        await reach(ex, SortieState.EN_ROUTE, vehicle_s=30.0)

        kinds = [e.kind for e in ex.sortie.events]
        assert "dock_setup_not_used" not in kinds
        assert "params_verified" not in kinds  # all were set and read back on the dock
        upload = next(e for e in ex.sortie.events if e.kind == "upload_verified")
        assert "mission items (checksum" in upload.detail
        assert "(dock fence)" in upload.detail
        assert kinds[kinds.index("upload_verified") + 1 :][:2] == ["armed", "mission_started"]
        # While the sortie flies, nothing prepares or watches its drone.
        assert ops.dock.setup("hq") is None

        await eventually("the flight's transfers are recorded", lambda: bool(ex.transfers), 10.0)
        fence = ex.transfers["fence"]
        assert fence["uploaded"] == setup.fence_items
        assert fence["read_back"] == setup.fence_read_back
        mission = ex.transfers["mission"]
        assert item_differences(mission["uploaded"], mission["read_back"]) == ()

        await ex.abort()
        await reach(ex, SortieState.DOCKED, vehicle_s=120.0)
        await eventually("the drone is prepared again", lambda: ops.dock.setup("hq"), 30.0)


async def test_a_set_up_changed_on_the_dock_is_prepared_again(tmp_path: Path) -> None:
    async with operations(tmp_path) as (ops, vehicles):
        first = ops.dock.setup("bessemer")
        assert first is not None
        vehicle = vehicles.by_station["bessemer"]
        cruise = vehicle.params.get("MPC_XY_CRUISE")

        # Someone changes a parameter (PX4 announces it): prepared again, value restored.
        await first.link.set_param(ParamSetting("MPC_XY_CRUISE", 3.0, ParamType.FLOAT))
        await eventually(
            "prepared again after a parameter change",
            lambda: ops.dock.setup("bessemer") not in (None, first),
            wall_s(30.0),
        )
        assert vehicle.params.get("MPC_XY_CRUISE") == cruise

        # Someone clears the fence (its checksum changes): prepared again, fence restored.
        second = ops.dock.setup("bessemer")
        assert second is not None
        await second.link.upload_fence(())
        await eventually(
            "prepared again after a fence change",
            lambda: ops.dock.setup("bessemer") not in (None, second),
            wall_s(30.0),
        )
        assert item_differences(second.fence_items, vehicle.missions.get(FENCE)) == ()
