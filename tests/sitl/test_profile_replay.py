"""Fly the recorded PX4 flight again on the simulator, log it, and profile both the same way.

A bare pymavlink ground station flies what the PX4 log shows (parameters, arm,
takeoff to 60 m, 1.5 km goto north-east at 20 m/s, land) over the wire and writes
a .tlog; sitl/tlog_profile.py turns it into the same summary as the PX4 fixture.
"""

from __future__ import annotations

import math
import struct
import time
from pathlib import Path

import pytest
from pymavlink.dialects.v20 import common as mavlink

from sitl.fleet import SimFleet
from sitl.modes import FlightMode
from sitl.tlog_profile import build_profile
from sitl.vehicle import SimVehicle
from tests.sitl.conftest import PUEBLO, PUEBLO_ALT_M, sim_config
from tests.sitl.raw_gcs import RawGcs
from tests.sitl.test_contract import offset


class _RecordingGcs(RawGcs):
    def __init__(self) -> None:
        super().__init__()
        self.log: list[bytes] = []

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        before = len(self.messages)
        super().datagram_received(data, addr)
        stamp = struct.pack(">Q", int(time.time() * 1e6))
        self.log.extend(stamp + bytes(m.get_msgbuf()) for m in self.messages[before:])


async def _fly_px4_log_flight(gcs: RawGcs, vehicle: SimVehicle) -> None:
    async def command(cmd: int, *params: float) -> None:
        since = len(gcs.messages)
        p = list(params) + [0.0] * (7 - len(params))
        gcs.send(gcs.mav.command_long_encode(1, 1, cmd, 0, *p))
        ack = await gcs.wait_for(
            lambda m: m.get_type() == "COMMAND_ACK" and m.command == cmd, since=since
        )
        assert ack.result == mavlink.MAV_RESULT_ACCEPTED

    for name, value in (
        ("MPC_XY_CRUISE", 20.0),
        ("MPC_XY_VEL_MAX", 20.0),
        ("MIS_TAKEOFF_ALT", 60.0),
    ):
        gcs.send(
            gcs.mav.param_set_encode(1, 1, name.encode(), value, mavlink.MAV_PARAM_TYPE_REAL32)
        )
    await vehicle.wait_until(lambda s: s.time_s >= 6.9, 10.0)  # the log arms at 6.9 s
    # MAVSDK sends takeoff ~20 ms after arm: one datagram keeps them in one vehicle step.
    since = len(gcs.messages)
    arm = mavlink.MAV_CMD_COMPONENT_ARM_DISARM
    gcs.send_many([
        gcs.mav.command_long_encode(1, 1, arm, 0, 1, 0, 0, 0, 0, 0, 0),
        gcs.mav.command_long_encode(1, 1, mavlink.MAV_CMD_NAV_TAKEOFF, 0, *[math.nan] * 7),
    ])  # fmt: skip
    for cmd in (mavlink.MAV_CMD_COMPONENT_ARM_DISARM, mavlink.MAV_CMD_NAV_TAKEOFF):
        ack = await gcs.wait_for(
            lambda m, c=cmd: m.get_type() == "COMMAND_ACK" and m.command == c, since=since
        )
        assert ack.result == mavlink.MAV_RESULT_ACCEPTED
    await vehicle.wait_until(lambda s: s.flight_mode is FlightMode.HOLD and s.in_air, 20.0)
    target = offset(PUEBLO, 1500 / math.sqrt(2), 1500 / math.sqrt(2))
    since = len(gcs.messages)
    gcs.send(gcs.mav.command_int_encode(
        1, 1, mavlink.MAV_FRAME_GLOBAL_INT, mavlink.MAV_CMD_DO_REPOSITION, 0, 0, -1.0,
        mavlink.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE, 0.0, math.nan,
        round(target.latitude_deg * 1e7), round(target.longitude_deg * 1e7), PUEBLO_ALT_M + 60.0,
    ))  # fmt: skip
    await gcs.wait_for(lambda m: m.get_type() == "COMMAND_ACK", since=since)
    await vehicle.wait_until(
        lambda s: s.distance_to_m(target) < 1.0 and s.ground_speed_m_s < 0.3, 20.0
    )
    await command(mavlink.MAV_CMD_NAV_LAND, *[math.nan] * 4, 0.0, 0.0, math.nan)
    await vehicle.wait_until(lambda s: not s.armed, 20.0)
    await vehicle.sleep(2.0)


@pytest.fixture(scope="module")
def simulated_profile(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import asyncio

    async def record() -> list[bytes]:
        loop = asyncio.get_running_loop()
        transport, gcs = await loop.create_datagram_endpoint(
            _RecordingGcs, local_addr=("127.0.0.1", 0)
        )
        try:
            cfg = sim_config(api_port=gcs.port, speed_factor=25.0, fast_stream_hz=50.0)
            async with SimFleet.single(cfg) as vehicle:
                await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
                await _fly_px4_log_flight(gcs, vehicle)
        finally:
            transport.close()
        return gcs.log

    log = asyncio.run(record())
    path: Path = tmp_path_factory.mktemp("replay") / "sim-flight.tlog"
    path.write_bytes(b"".join(log))
    return build_profile(path)


def test_heartbeat_mode_sequence_matches(simulated_profile, profile) -> None:
    def sequence(p: dict) -> list[tuple]:
        return [
            (b["base_mode"], b["main_mode"], b["sub_mode"], b["system_status"])
            for b in p["heartbeats"]
        ]

    assert sequence(simulated_profile) == sequence(profile)


def test_landed_state_and_sensor_phases_match(simulated_profile, profile) -> None:
    assert [s["state"] for s in simulated_profile["landed_states"]] == [
        s["state"] for s in profile["landed_states"]
    ]
    phases = [
        (p["present"], p["enabled"], p["health"]) for p in simulated_profile["sys_status_phases"]
    ]
    assert phases == [
        (p["present"], p["enabled"], p["health"]) for p in profile["sys_status_phases"]
    ]


def test_statustexts_match(simulated_profile, profile) -> None:
    assert [t["text"] for t in simulated_profile["statustexts"]] == [
        t["text"] for t in profile["statustexts"]
    ]


def test_rates_and_fields_match(simulated_profile, profile) -> None:
    for name, rate in simulated_profile["rates_hz"].items():
        if name in ("STATUSTEXT", "PARAM_VALUE", "COMMAND_ACK"):
            continue
        assert rate == pytest.approx(profile["rates_hz"][name], rel=0.1, abs=0.06), name
    assert simulated_profile["fields"] == profile["fields"]


@pytest.mark.parametrize(
    ("timing", "tolerance_s"),
    [
        ("arm_to_takeoff_detected", 0.3),
        ("arm_to_liftoff", 1.0),
        ("arm_to_within_1m_of_target_alt", 4.0),
        ("arm_to_takeoff_complete_hold", 4.0),
        ("boot_to_standby", 1.0),  # seen in 1 Hz messages: up to 1 s late
        ("boot_to_prearm_ok", 1.2),
        ("transit_motion_to_arrival_s", 3.0),
        ("land_cmd_to_touchdown", 4.0),
        ("land_cmd_to_landing_detected", 4.0),
        ("landing_detected_to_disarm", 0.2),
        ("land_cmd_to_disarm", 4.0),
    ],
)
def test_flight_timings_match(simulated_profile, profile, timing, tolerance_s) -> None:
    ours = simulated_profile["flight_timings_s"][timing]
    assert ours == pytest.approx(profile["flight_timings_s"][timing], abs=tolerance_s)


def test_transit_marks_match(simulated_profile, profile) -> None:
    ours = simulated_profile["flight_timings_s"]["transit_marks_from_motion_s"]
    for mark, ref in profile["flight_timings_s"]["transit_marks_from_motion_s"].items():
        assert ours[mark] == pytest.approx(ref, abs=1.5), mark
