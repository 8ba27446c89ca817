"""Drones nobody answers for: connect time limits and offline stations, no vehicle needed."""

from __future__ import annotations

import time

import pytest

from dfr.loopback import free_udp_port
from stations.drone_link import ConnectTimeout, DroneLink, LinkSettings
from stations.fleet import DockState, DroneOffline, Fleet, FleetSettings
from tests.flight.conftest import station


async def test_connect_gives_up_in_time_when_no_vehicle_answers() -> None:
    address = f"udpin://127.0.0.1:{free_udp_port()}"
    started = time.monotonic()
    with pytest.raises(ConnectTimeout, match="no vehicle on"):
        async with DroneLink.connect("ghost", address, LinkSettings(connect_timeout_s=0.5)):
            pass  # pragma: no cover
    assert time.monotonic() - started < 3.0


async def test_a_station_whose_drone_is_unreachable_is_offline() -> None:
    settings = FleetSettings(link=LinkSettings(connect_timeout_s=0.3), reconnect_delay_s=0.1)
    ghost = station("ghost", f"udpin://127.0.0.1:{free_udp_port()}")
    async with Fleet.running([ghost], settings) as fleet:
        availability = fleet.availability("ghost")
        assert not availability.online
        assert availability.dock_state is DockState.UNKNOWN
        with pytest.raises(DroneOffline):
            fleet.link("ghost")
        with pytest.raises(DroneOffline):
            await fleet.wait_online("ghost", timeout_s=0.8)
        availability = fleet.availability("ghost")
        assert not availability.online
        assert availability.reason is not None
        assert "no vehicle" in availability.reason
