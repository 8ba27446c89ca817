"""PX4's failsafe triggers: data-link loss, low battery, position loss, geofence breach.

The monitor only decides *what* should happen; the commander carries it out.
Actions worse than Hold wait COM_FAIL_ACT_T first (PX4's failsafe delay); during
that delay the vehicle carries on, as measured against PX4 SITL.

Data-link loss is judged on both clocks: no ground-station message for
COM_DL_LOSS_T of vehicle time *and* for `GCS_LOSS_WALL_S` of wall time. MAVSDK
sends its heartbeat at 1 Hz of wall time, so at a speed factor above ~5 a
vehicle-time-only test would see a 10 s gap between heartbeats and declare the link
lost (PX4 SITL in lockstep has exactly that problem).
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from pymavlink.dialects.v20 import common as mavlink

from sitl.battery import Battery, BatteryWarning
from sitl.link import Outbox
from sitl.params import ParamTable

GCS_LOSS_WALL_S = 3.0


class Action(enum.Enum):
    WARN = "warn"
    HOLD = "hold"
    RTL = "rtl"
    LAND = "land"
    DESCEND = "descend"  # land without a position estimate
    TERMINATE = "terminate"
    DISARM = "disarm"


@dataclass(frozen=True, slots=True)
class Failsafe:
    action: Action
    reason: str
    due_s: float


# NAV_DLL_ACT / GF_ACTION values to actions.
DLL_ACTIONS = {1: Action.HOLD, 2: Action.RTL, 3: Action.LAND, 5: Action.TERMINATE, 6: Action.DISARM}
GF_ACTIONS = {1: Action.WARN, 2: Action.HOLD, 3: Action.RTL, 4: Action.TERMINATE, 5: Action.LAND}


class GcsLinkMonitor:
    """Knows whether a ground station is talking to the vehicle."""

    def __init__(self) -> None:
        self.seen = False
        self.lost = False
        self._last_vehicle_s = 0.0
        self._last_wall_s = 0.0

    def heard(self, now_s: float) -> None:
        self.seen = True
        self._last_vehicle_s = now_s
        self._last_wall_s = time.monotonic()

    def silent_for(self, now_s: float, timeout_s: float) -> bool:
        return (
            self.seen
            and now_s - self._last_vehicle_s > timeout_s
            and time.monotonic() - self._last_wall_s > GCS_LOSS_WALL_S
        )


class FailsafeMonitor:
    """Evaluates the triggers each step and queues the resulting action."""

    def __init__(self, params: ParamTable, outbox: Outbox) -> None:
        self._params = params
        self._out = outbox
        self.gcs = GcsLinkMonitor()
        self.battery_warning = BatteryWarning.NONE
        self.pending: Failsafe | None = None
        self.active_reason: str | None = None

    def _queue(self, action: Action, reason: str, now_s: float, delayed: bool = True) -> None:
        if action is Action.WARN:
            return
        delay = float(self._params.get("COM_FAIL_ACT_T"))
        immediate = action in (Action.HOLD, Action.TERMINATE, Action.DESCEND) or not delayed
        due = now_s if immediate or delay <= 0 else now_s + delay
        if self.pending is None or due < self.pending.due_s:
            self.pending = Failsafe(action, reason, due)
        self.active_reason = reason
        if due > now_s:
            self._out.send_text(
                mavlink.MAV_SEVERITY_WARNING,
                f"Failsafe activated: {reason}, {action.value} in {delay:.0f} s\t",
            )

    def take_due(self, now_s: float) -> Failsafe | None:
        """The queued action once its delay has run out."""
        if self.pending is not None and now_s >= self.pending.due_s:
            failsafe, self.pending = self.pending, None
            return failsafe
        return None

    def clear(self) -> None:
        self.pending = None
        self.active_reason = None

    def check_link(self, now_s: float, flying: bool) -> None:
        timeout = float(self._params.get("COM_DL_LOSS_T"))
        if not self.gcs.lost and self.gcs.silent_for(now_s, timeout):
            self.gcs.lost = True
            self._out.send_text(
                mavlink.MAV_SEVERITY_CRITICAL, "Connection to ground station lost\t"
            )
            action = DLL_ACTIONS.get(int(self._params.get("NAV_DLL_ACT")))
            if action is not None and flying:
                self._queue(action, "no connection to ground station", now_s)
        elif self.gcs.lost and not self.gcs.silent_for(now_s, timeout):
            self.gcs.lost = False
            self._out.send_text(mavlink.MAV_SEVERITY_INFO, "Data link regained\t")
            if self.pending and self.pending.reason == "no connection to ground station":
                self.pending = None

    def check_battery(self, now_s: float, battery: Battery, flying: bool) -> None:
        p = self._params
        level = battery.warning(
            float(p.get("BAT_LOW_THR")),
            float(p.get("BAT_CRIT_THR")),
            float(p.get("BAT_EMERGEN_THR")),
        )
        if level <= self.battery_warning:
            return
        self.battery_warning = level
        pct = battery.remaining * 100.0
        texts = {
            BatteryWarning.LOW: (mavlink.MAV_SEVERITY_WARNING, "Low battery level"),
            BatteryWarning.CRITICAL: (mavlink.MAV_SEVERITY_CRITICAL, "Critical battery level!"),
            BatteryWarning.EMERGENCY: (mavlink.MAV_SEVERITY_EMERGENCY, "Emergency battery level!"),
        }
        severity, text = texts[level]
        self._out.send_text(severity, f"{text} {pct:.0f}% remaining\t")
        act = int(p.get("COM_LOW_BAT_ACT"))
        if not flying or act == 0:
            return
        if level is BatteryWarning.CRITICAL:
            self._queue(Action.LAND if act == 2 else Action.RTL, "critical battery", now_s)
        elif level is BatteryWarning.EMERGENCY and act in (2, 3):
            self._queue(Action.LAND, "emergency battery", now_s, delayed=False)

    def position_lost(self, now_s: float, flying: bool) -> None:
        self._out.send_text(
            mavlink.MAV_SEVERITY_CRITICAL, "Failsafe activated: no global position\t"
        )
        if flying:
            self._queue(Action.DESCEND, "no global position", now_s)

    def fence_breached(self, now_s: float, what: str) -> Action | None:
        """Announce a breach; the GF_ACTION to take (HOLD is immediate, RTL delayed)."""
        self._out.send_text(mavlink.MAV_SEVERITY_CRITICAL, f"Geofence breached: {what}\t")
        action = GF_ACTIONS.get(int(self._params.get("GF_ACTION")))
        if action in (None, Action.WARN, Action.HOLD):
            return action
        self._queue(action, "geofence breach", now_s)
        return action
