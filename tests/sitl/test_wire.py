"""What the simulator puts on the wire, checked by a bare pymavlink peer against the profile."""

from __future__ import annotations

import asyncio
import math
import struct
from collections import Counter

import pytest
from pymavlink.dialects.v20 import common as mavlink

import sitl.mission_transfer
from missions.mission_plan import transfer_checksum
from sitl.fleet import SimFleet
from sitl.vehicle import SimVehicle
from tests.sitl.conftest import sim_config
from tests.sitl.raw_gcs import RawGcs, raw_gcs

# PX4 API-link messages the simulator deliberately does not send (see sitl/telemetry.py).
OMITTED = {
    "ATTITUDE_TARGET", "POSITION_TARGET_LOCAL_NED", "SERVO_OUTPUT_RAW", "OPEN_DRONE_ID_LOCATION",
    "OPEN_DRONE_ID_SYSTEM", "DISTANCE_SENSOR", "ESTIMATOR_STATUS", "VIBRATION", "PING",
    "GPS_GLOBAL_ORIGIN", "PARAM_VALUE", "STATUSTEXT", "COMMAND_LONG",
}  # fmt: skip
ON_DEMAND = {"GPS_GLOBAL_ORIGIN", "PARAM_VALUE", "STATUSTEXT", "COMMAND_LONG", "PING"}


async def run_vehicle_for(vehicle: SimVehicle, seconds: float) -> None:
    await vehicle.wait_until(
        lambda s: s.time_s >= seconds, seconds / vehicle.config.speed_factor + 10
    )


def vehicle_span_s(messages: list) -> float:
    stamps = [m.time_boot_ms for m in messages if m.get_type() == "ATTITUDE"]
    return (stamps[-1] - stamps[0]) / 1000.0


async def test_message_set_and_rates_match_px4(profile) -> None:
    async with raw_gcs() as gcs:
        cfg = sim_config(api_port=gcs.port, speed_factor=20.0, fast_stream_hz=50.0)
        async with SimFleet.single(cfg) as vehicle:
            await run_vehicle_for(vehicle, 42.0)
    counts = Counter(m.get_type() for m in gcs.messages)
    span = vehicle_span_s(gcs.messages)
    px4 = profile["rates_hz"]
    ours = set(counts) - {"STATUSTEXT"}
    assert ours <= set(px4), ours - set(px4)
    assert set(px4) - ours == OMITTED - (ours & ON_DEMAND)
    for name in ours:
        rate = counts[name] / span
        assert rate == pytest.approx(px4[name], rel=0.1, abs=0.06), name


async def test_field_conventions_match_px4(profile) -> None:
    async with (
        raw_gcs() as gcs,
        SimFleet.single(sim_config(api_port=gcs.port, speed_factor=10.0)) as vehicle,
    ):
        await run_vehicle_for(vehicle, 8.0)
    fields = profile["fields"]
    beat = gcs.of_type("HEARTBEAT")[-1]
    for name, value in fields["HEARTBEAT"].items():
        assert getattr(beat, name) == value
    first_beat = profile["heartbeats"][0]
    assert beat.base_mode == first_beat["base_mode"]  # disarmed, AUTO_LOITER
    assert (beat.custom_mode >> 16 & 0xFF, beat.custom_mode >> 24) == (
        first_beat["main_mode"],
        first_beat["sub_mode"],
    )
    assert beat.system_status == mavlink.MAV_STATE_STANDBY
    for kind in ("GPS_RAW_INT", "BATTERY_STATUS", "EXTENDED_SYS_STATE", "MISSION_CURRENT"):
        msg = gcs.of_type(kind)[-1]
        for name, value in fields[kind].items():
            assert getattr(msg, name) == value, (kind, name)
    battery = gcs.of_type("BATTERY_STATUS")[-1]
    assert battery.voltages[0] == 16200
    assert battery.voltages[1] == 65535
    assert math.isnan(gcs.of_type("VFR_HUD")[-1].airspeed)  # SIH has no airspeed sensor
    position = gcs.of_type("GLOBAL_POSITION_INT")[-1]
    assert (position.lat, position.lon, position.alt) == (382544000, -1046091000, 1430000)
    texts = [(m.severity, m.text) for m in gcs.of_type("STATUSTEXT")]
    expected = next(t for t in profile["statustexts"] if t["text"].startswith("Preflight Fail"))
    assert (expected["severity"], expected["text"]) in texts


async def test_command_protocol_acks_like_px4() -> None:
    async with raw_gcs() as gcs, SimFleet.single(sim_config(api_port=gcs.port)) as vehicle:
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")

        async def command(cmd: int, *params: float) -> mavlink.MAVLink_message:
            since = len(gcs.messages)
            p = list(params) + [0.0] * (7 - len(params))
            gcs.send(gcs.mav.command_long_encode(vehicle.config.system_id, 1, cmd, 0, *p))
            return await gcs.wait_for(
                lambda m: m.get_type() == "COMMAND_ACK" and m.command == cmd, since=since
            )

        ack = await command(
            mavlink.MAV_CMD_REQUEST_MESSAGE, mavlink.MAVLINK_MSG_ID_AUTOPILOT_VERSION
        )
        assert ack.result == mavlink.MAV_RESULT_ACCEPTED
        version = await gcs.wait_for(lambda m: m.get_type() == "AUTOPILOT_VERSION")
        for bit in ("MISSION_INT", "MAVLINK2", "PARAM_FLOAT", "COMMAND_INT", "MISSION_FENCE",
                    "MISSION_RALLY", "PARAM_ENCODE_BYTEWISE"):  # fmt: skip
            assert version.capabilities & getattr(mavlink, f"MAV_PROTOCOL_CAPABILITY_{bit}"), bit
        assert (await command(mavlink.MAV_CMD_DO_WINCH)).result == mavlink.MAV_RESULT_UNSUPPORTED
        refused = await command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1.0)
        assert refused.result == mavlink.MAV_RESULT_TEMPORARILY_REJECTED  # not healthy yet
        forced = await command(mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1.0, 21196.0)
        assert forced.result == mavlink.MAV_RESULT_ACCEPTED
        assert vehicle.state.armed


async def test_set_message_interval_changes_a_stream() -> None:
    async with (
        raw_gcs() as gcs,
        SimFleet.single(sim_config(api_port=gcs.port, speed_factor=10.0)) as vehicle,
    ):
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
        msg_id = mavlink.MAVLINK_MSG_ID_GPS_RAW_INT
        gcs.send(
            gcs.mav.command_long_encode(
                1, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, msg_id, 50_000, 0, 0, 0, 0, 0
            )
        )
        await gcs.wait_for(lambda m: m.get_type() == "COMMAND_ACK")
        start, since = vehicle.now_s, len(gcs.messages)
        await run_vehicle_for(vehicle, start + 10.0)
        gps = [m for m in gcs.messages[since:] if m.get_type() == "GPS_RAW_INT"]
        span = (gps[-1].time_usec - gps[0].time_usec) / 1e6
        assert (len(gps) - 1) / span == pytest.approx(20.0, rel=0.05)
        gcs.send(
            gcs.mav.command_long_encode(
                1, 1, mavlink.MAV_CMD_SET_MESSAGE_INTERVAL, 0, msg_id, -1, 0, 0, 0, 0, 0
            )
        )
        await asyncio.sleep(0.2)
        since = len(gcs.messages)
        await run_vehicle_for(vehicle, vehicle.now_s + 5.0)
        assert not [m for m in gcs.messages[since:] if m.get_type() == "GPS_RAW_INT"]


async def test_mission_upload_retries_and_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sitl.mission_transfer, "TIMEOUT_S", 1.0)
    async with raw_gcs() as gcs, SimFleet.single(sim_config(api_port=gcs.port)) as vehicle:
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
        gcs.send(gcs.mav.mission_count_encode(1, 1, 2, mavlink.MAV_MISSION_TYPE_FENCE))
        await asyncio.sleep(0.8)  # say nothing: the vehicle asks again for item 0
        requests = [m for m in gcs.of_type("MISSION_REQUEST_INT") if m.seq == 0]
        assert len(requests) >= 2
        assert {m.mission_type for m in requests} == {1}
        for seq, (lat, lon) in enumerate(((382544000, -1046091000), (382545000, -1046092000))):
            gcs.send(gcs.mav.mission_item_int_encode(
                1, 1, seq, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
                0, 1, 30.0, 0, 0, 0, lat, lon, 0, mavlink.MAV_MISSION_TYPE_FENCE,
            ))  # fmt: skip
        ack = await gcs.wait_for(lambda m: m.get_type() == "MISSION_ACK")
        assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, 1)
        assert vehicle.geofence.zone_count == 2
        # Like PX4: the accepted list's checksum in MISSION_ACK.opaque_id and, from then
        # on, in MISSION_CURRENT.fence_id (extension fields newer than pymavlink's).
        checksum = transfer_checksum(vehicle.missions.get(mavlink.MAV_MISSION_TYPE_FENCE))
        assert checksum != 0
        assert _payload_fields(ack, "<BBBBI")[4] == checksum
        since = len(gcs.messages)
        current = await gcs.wait_for(lambda m: m.get_type() == "MISSION_CURRENT", since=since)
        assert _payload_fields(current, "<HHBBIII")[4:] == (0, checksum, 0)
        since = len(gcs.messages)
        gcs.send(gcs.mav.mission_count_encode(1, 1, 3, mavlink.MAV_MISSION_TYPE_MISSION))
        cancelled = await gcs.wait_for(
            lambda m: m.get_type() == "MISSION_ACK", timeout_s=3.0, since=since
        )
        assert cancelled.type == mavlink.MAV_MISSION_OPERATION_CANCELLED
        assert vehicle.state.mission_count == 0


async def test_a_stalled_upload_is_asked_for_until_the_protocol_timeout() -> None:
    """Like PX4: item requests every 0.25 s for as long as the ground station stays
    silent under 5 s (a busy link), not cancelled after a number of requests."""
    async with raw_gcs() as gcs, SimFleet.single(sim_config(api_port=gcs.port)) as vehicle:
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
        gcs.send(gcs.mav.mission_count_encode(1, 1, 1, mavlink.MAV_MISSION_TYPE_FENCE))
        await asyncio.sleep(3.5)
        requests = [m for m in gcs.of_type("MISSION_REQUEST_INT") if m.seq == 0]
        assert len(requests) >= 10
        assert not gcs.of_type("MISSION_ACK")
        gcs.send(gcs.mav.mission_item_int_encode(
            1, 1, 0, mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION,
            0, 1, 30.0, 0, 0, 0, 382544000, -1046091000, 0, mavlink.MAV_MISSION_TYPE_FENCE,
        ))  # fmt: skip
        ack = await gcs.wait_for(lambda m: m.get_type() == "MISSION_ACK")
        assert (ack.type, ack.mission_type) == (mavlink.MAV_MISSION_ACCEPTED, 1)
        assert vehicle.geofence.zone_count == 1


def _payload_fields(message: object, layout: str) -> tuple[int, ...]:
    """A MAVLink 2 frame's payload with its zero-truncated tail restored."""
    frame = message.get_msgbuf()  # type: ignore[attr-defined]
    payload = bytes(frame[10 : 10 + frame[1]])
    size = struct.calcsize(layout)
    return struct.unpack(layout, payload.ljust(size, b"\0")[:size])


async def test_param_protocol_is_bytewise_and_typed() -> None:
    async with raw_gcs() as gcs, SimFleet.single(sim_config(api_port=gcs.port)) as vehicle:
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
        gcs.send(gcs.mav.param_request_read_encode(1, 1, b"GF_ACTION", -1))
        value = await gcs.wait_for(lambda m: m.get_type() == "PARAM_VALUE")
        assert value.param_type == mavlink.MAV_PARAM_TYPE_INT32
        assert struct.unpack("<i", struct.pack("<f", value.param_value))[0] == 2
        since = len(gcs.messages)
        gcs.send(gcs.mav.param_set_encode(1, 1, b"GF_ACTION", 3.0, mavlink.MAV_PARAM_TYPE_REAL32))
        refused = await gcs.wait_for(lambda m: m.get_type() == "PARAM_VALUE", since=since)
        assert struct.unpack("<i", struct.pack("<f", refused.param_value))[0] == 2  # wrong type
        since = len(gcs.messages)
        gcs.send(gcs.mav.param_request_list_encode(1, 1))
        await gcs.wait_for(
            lambda m: m.get_type() == "PARAM_VALUE" and m.param_index == len(vehicle.params) - 1,
            since=since,
        )
        listed = [m for m in gcs.messages[since:] if m.get_type() == "PARAM_VALUE"]
        assert sorted(m.param_index for m in listed) == list(range(len(vehicle.params)))
        assert {m.param_count for m in listed} == {len(vehicle.params)}


async def test_ping_and_timesync_are_answered() -> None:
    async with raw_gcs() as gcs, SimFleet.single(sim_config(api_port=gcs.port)):
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
        gcs.send(gcs.mav.ping_encode(123, 7, 0, 0))
        pong = await gcs.wait_for(lambda m: m.get_type() == "PING")
        assert (pong.seq, pong.target_system, pong.target_component) == (7, 255, 190)
        gcs.send(gcs.mav.timesync_encode(0, 42))
        sync = await gcs.wait_for(lambda m: m.get_type() == "TIMESYNC")
        assert sync.ts1 == 42
        assert sync.tc1 > 0


async def test_link_loss_fault_silences_both_directions() -> None:
    gcs: RawGcs
    async with raw_gcs() as gcs, SimFleet.single(sim_config(api_port=gcs.port)) as vehicle:
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT")
        vehicle.faults.link_loss()
        await asyncio.sleep(0.1)
        before = gcs.datagrams
        gcs.send(
            gcs.mav.command_long_encode(
                1, 1, mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 0, 1, 21196, 0, 0, 0, 0, 0
            )
        )
        await asyncio.sleep(0.3)
        assert gcs.datagrams == before
        assert not vehicle.state.armed
        vehicle.faults.link_loss(False)
        await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT", since=len(gcs.messages))
