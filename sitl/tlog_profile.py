"""Derive the compact PX4 reference profile the simulator's conformance tests compare against.

Run it on a telemetry log (``.tlog``) recorded from a PX4 SITL flight (connect, arm,
take off to 60 m, transit, land) to refresh ``tests/fixtures/sitl/px4_profile.json``::

    python -m sitl.tlog_profile path/to/flight.tlog -o tests/fixtures/sitl/px4_profile.json

The log gives message rates, field conventions, the SYS_STATUS sensor-bit phases and
the flight's timings (all in vehicle time, from ``time_boot_ms``). Figures that a
single log cannot show (parameter defaults, the goto distance marks, failsafe
overshoots) were measured on PX4 SITL by hand and live in `MEASURED` below.
"""

from __future__ import annotations

import argparse
import json
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

# Measured on PX4 SITL (SIH quadrotor, PX4 main) with MAVSDK; not derivable from one log.
MEASURED: dict[str, Any] = {
    "param_defaults": {
        "MPC_XY_CRUISE": 5.0,
        "MPC_XY_VEL_MAX": 12.0,
        "MPC_ACC_HOR": 3.0,
        "MPC_Z_V_AUTO_UP": 3.0,
        "MPC_Z_VEL_MAX_UP": 3.0,
        "MPC_TKO_SPEED": 1.5,
        "MPC_LAND_SPEED": 0.7,
        "MIS_TAKEOFF_ALT": 2.5,
        "RTL_RETURN_ALT": 30.0,
        "GF_ACTION": 2,
        "NAV_DLL_ACT": 0,
        "NAV_RCL_ACT": 2,
        "COM_RC_IN_MODE": 1,
    },
    "timings_s": {
        "boot_to_health_all_ok": [4.5, 5.0],
        "boot_to_armable": [5.5, 8.0],
        "arm_to_takeoff_detected": 1.9,
        "takeoff_60m_defaults": 30.0,
        "goto_1500m_defaults": 313.0,
        "goto_1500m_20ms": 85.0,
        "land_60m_to_disarm": 55.0,
        "idle_armed_auto_disarm": 10.0,
    },
    "goto_1500m_20ms_marks_s": {"100": 8.8, "500": 29.9, "1000": 55.7, "1400": 76.4},
    "goto_1500m_20ms_max_speed_m_s": 19.9,
    "geofence_hold_overshoot_m": 60.0,
    "geofence_hold_predict_inside_m": 3.0,
    "geofence_rtl_overshoot_m": 157.0,
    "geofence_rtl_predict_overshoot_m": 44.0,
}

# Messages whose fields the simulator mirrors; a handful of fields each.
FIELD_SAMPLES = {
    "GPS_RAW_INT": ("fix_type", "eph", "epv", "satellites_visible", "h_acc", "v_acc", "vel_acc"),
    "BATTERY_STATUS": ("id", "battery_function", "type", "temperature", "charge_state"),
    "EXTENDED_SYS_STATE": ("vtol_state",),
    "MISSION_CURRENT": ("total", "mission_state"),
    "HEARTBEAT": ("type", "autopilot", "mavlink_version"),
}

LANDED_STATES = {0: "UNDEFINED", 1: "ON_GROUND", 2: "IN_AIR", 3: "TAKEOFF", 4: "LANDING"}


def _vehicle_messages(path: Path) -> list[Any]:
    from pymavlink import mavutil

    log = mavutil.mavlink_connection(str(path), dialect="common")
    messages = []
    while (msg := log.recv_match()) is not None:
        if msg.get_type().startswith("UNKNOWN") or msg.get_type() == "BAD_DATA":
            continue
        if (msg.get_srcSystem(), msg.get_srcComponent()) == (1, 1):
            messages.append(msg)
    return messages


def _vehicle_clock(messages: list[Any]) -> dict[int, float]:
    """Vehicle time (s) of every message, keyed by id(): the last ``time_boot_ms`` seen
    plus the log time elapsed since (the log clock drifts against vehicle time)."""
    anchor = next((m for m in messages if hasattr(m, "time_boot_ms")), None)
    if anchor is None:
        raise ValueError("log has no message with time_boot_ms")
    wall0, boot0 = anchor._timestamp, anchor.time_boot_ms / 1000.0
    clock = {}
    for m in messages:
        if hasattr(m, "time_boot_ms"):
            wall0, boot0 = m._timestamp, m.time_boot_ms / 1000.0
        clock[id(m)] = boot0 + (m._timestamp - wall0)
    return clock


def _rates(messages: list[Any], vt) -> dict[str, float]:
    """Messages per second of vehicle time (the log may run faster than real time)."""
    counts: Counter[str] = Counter(m.get_type() for m in messages)
    span_s = vt(messages[-1]) - vt(messages[0])
    return {name: round(n / span_s, 2) for name, n in sorted(counts.items())}


def _field_samples(messages: list[Any]) -> dict[str, dict[str, Any]]:
    values: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for m in messages:
        fields = FIELD_SAMPLES.get(m.get_type())
        for field in fields or ():
            values[m.get_type()][field].append(getattr(m, field))
    return {
        name: {field: Counter(v).most_common(1)[0][0] for field, v in fields.items()}
        for name, fields in values.items()
    }


def _heartbeats(messages: list[Any], vt) -> list[dict[str, Any]]:
    changes, last = [], None
    for m in messages:
        if m.get_type() != "HEARTBEAT":
            continue
        key = (m.base_mode, m.custom_mode, m.system_status)
        if key != last:
            changes.append(
                {
                    "t_s": round(vt(m), 2),
                    "base_mode": m.base_mode,
                    "main_mode": (m.custom_mode >> 16) & 0xFF,
                    "sub_mode": (m.custom_mode >> 24) & 0xFF,
                    "system_status": m.system_status,
                }
            )
            last = key
    return changes


def _sys_status_phases(messages: list[Any], vt) -> list[dict[str, Any]]:
    phases, last = [], None
    for m in messages:
        if m.get_type() != "SYS_STATUS":
            continue
        key = (
            m.onboard_control_sensors_present,
            m.onboard_control_sensors_enabled,
            m.onboard_control_sensors_health,
        )
        if key != last:
            phases.append(
                {"t_s": round(vt(m), 2), "present": key[0], "enabled": key[1], "health": key[2]}
            )
            last = key
    return phases


def _track(messages: list[Any]) -> list[tuple[float, float, float, float]]:
    """(t_s, horizontal distance from the first fix m, relative alt m, ground speed m/s)."""
    track, origin = [], None
    for m in messages:
        if m.get_type() != "GLOBAL_POSITION_INT":
            continue
        lat, lon = m.lat * 1e-7, m.lon * 1e-7
        origin = origin or (lat, lon)
        dn = (lat - origin[0]) * 111_320.0
        de = (lon - origin[1]) * 111_320.0 * math.cos(math.radians(origin[0]))
        speed = math.hypot(m.vx, m.vy) / 100.0
        track.append((m.time_boot_ms / 1000.0, math.hypot(dn, de), m.relative_alt / 1000.0, speed))
    return track


def _first(items, predicate, default=None):
    return next((x for x in items if predicate(x)), default)


def _flight_timings(messages: list[Any], vt) -> dict[str, Any]:
    texts = [(vt(m), m.text.rstrip("\t")) for m in messages if m.get_type() == "STATUSTEXT"]
    armed_at = _first(texts, lambda t: t[1].startswith("Armed"), (None,))[0]
    takeoff_at = _first(texts, lambda t: t[1] == "Takeoff detected", (None,))[0]
    land_cmd_at = _first(texts, lambda t: t[1].startswith("Landing at"), (None,))[0]
    landed_at = _first(texts, lambda t: t[1] == "Landing detected", (None,))[0]
    disarmed_at = _first(texts, lambda t: t[1].startswith("Disarmed"), (None,))[0]
    beats = _heartbeats(messages, vt)
    standby_at = _first(beats, lambda b: b["system_status"] == 3, {"t_s": None})["t_s"]
    hold_after_takeoff = _first(
        beats, lambda b: armed_at and b["t_s"] > armed_at and b["sub_mode"] == 3, {"t_s": None}
    )["t_s"]
    phases = _sys_status_phases(messages, vt)
    prearm_at = _first(phases, lambda p: p["health"] & 0x10000000, {"t_s": None})["t_s"]

    track = _track(messages)
    target_alt_m = next(
        (m.param_value for m in messages if getattr(m, "param_id", "") == "MIS_TAKEOFF_ALT"),
        round(max(alt for _, _, alt, _ in track)),
    )
    reached = _first(track, lambda s: armed_at and s[0] > armed_at and s[2] >= target_alt_m - 1.0)
    liftoff = _first(track, lambda s: armed_at and s[0] > armed_at and s[2] > 0.5)
    moving = _first(
        track, lambda s: hold_after_takeoff and s[0] > hold_after_takeoff and s[3] > 0.5
    )
    marks = {}
    if moving:
        for mark_m in (100, 500, 1000, 1400):
            hit = _first(track, lambda s, d=mark_m: s[0] > moving[0] and s[1] >= d)
            marks[str(mark_m)] = round(hit[0] - moving[0], 1) if hit else None
    transit = [
        s for s in track if moving and s[0] > moving[0] and (not land_cmd_at or s[0] < land_cmd_at)
    ]
    final_m = max((s[1] for s in transit), default=0.0)
    arrived = _first(transit, lambda s: s[1] >= final_m - 1.5)
    touchdown = _first(track, lambda s: land_cmd_at and s[0] > land_cmd_at and s[2] < 0.1)

    def span(a, b):
        return round(b - a, 2) if a is not None and b is not None else None

    return {
        "boot_to_standby": standby_at,
        "boot_to_prearm_ok": prearm_at,
        "arm_to_takeoff_detected": span(armed_at, takeoff_at),
        "arm_to_liftoff": span(armed_at, liftoff[0] if liftoff else None),
        "arm_to_within_1m_of_target_alt": span(armed_at, reached[0] if reached else None),
        "arm_to_takeoff_complete_hold": span(armed_at, hold_after_takeoff),
        "takeoff_target_alt_m": target_alt_m,
        "transit_distance_m": round(final_m, 1),
        "transit_marks_from_motion_s": marks,
        "transit_motion_to_arrival_s": span(
            moving[0] if moving else None, arrived[0] if arrived else None
        ),
        "transit_max_speed_m_s": round(max((s[3] for s in transit), default=0.0), 2),
        "land_cmd_to_touchdown": span(land_cmd_at, touchdown[0] if touchdown else None),
        "land_cmd_to_landing_detected": span(land_cmd_at, landed_at),
        "landing_detected_to_disarm": span(landed_at, disarmed_at),
        "land_cmd_to_disarm": span(land_cmd_at, disarmed_at),
    }


def build_profile(path: Path) -> dict[str, Any]:
    """Read the log at `path` and return the profile as plain JSON-able data."""
    messages = _vehicle_messages(path)
    clock = _vehicle_clock(messages)

    def vt(m: Any) -> float:
        return clock[id(m)]

    texts = [
        {"t_s": round(vt(m), 2), "severity": m.severity, "text": m.text}
        for m in messages
        if m.get_type() == "STATUSTEXT" and not m.text.startswith("[logger]")
    ]
    params = {
        m.param_id: {"value": m.param_value, "type": m.param_type}
        for m in messages
        if m.get_type() == "PARAM_VALUE" and m.param_type == 9
    }
    landed: list[dict[str, float | str]] = []
    for m in messages:
        if m.get_type() == "EXTENDED_SYS_STATE":
            name = LANDED_STATES.get(m.landed_state, str(m.landed_state))
            if not landed or landed[-1]["state"] != name:
                landed.append({"t_s": round(vt(m), 2), "state": name})
    return {
        "source": "PX4 SITL (SIH quadrotor) flight log, GCS link, MAVLink 2, system 1 component 1",
        "rates_hz": _rates(messages, vt),
        "fields": _field_samples(messages),
        "heartbeats": _heartbeats(messages, vt),
        "sys_status_phases": _sys_status_phases(messages, vt),
        "landed_states": landed,
        "statustexts": texts,
        "params_seen": params,
        "flight_timings_s": _flight_timings(messages, vt),
        "measured": MEASURED,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tlog", type=Path, help="PX4 SITL telemetry log")
    parser.add_argument("-o", "--output", type=Path, help="JSON file to write (default: stdout)")
    args = parser.parse_args(argv)
    text = json.dumps(build_profile(args.tlog), indent=1, sort_keys=True) + "\n"
    if args.output:
        args.output.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
