"""PX4's land detector as MAVSDK sees it: "Takeoff detected", "Landing detected".

Timings fitted to PX4 SITL: takeoff is declared ~0.9 s into the takeoff ramp, when the
thrust rises above the ground-contact threshold (before the airframe actually leaves
the ground, as PX4's detector does): ~1.9 s after arming into a takeoff, the motors
spooling up for the first second; landing ~5 s after touchdown (ground contact ->
maybe landed -> landed).
"""

from __future__ import annotations

from pymavlink.dialects.v20 import common as mavlink

from sitl.link import Outbox
from sitl.physics import Multirotor

TAKEOFF_DETECT_S = 0.9
LANDING_DETECT_S = 5.0


class LandDetector:
    """Tracks `landed`; `update` returns True on the step a landing is detected."""

    def __init__(self, outbox: Outbox) -> None:
        self._out = outbox
        self.landed = True
        self._ground_since_s: float | None = None

    def update(
        self, now_s: float, airframe: Multirotor, armed: bool, climb_since_s: float | None
    ) -> bool:
        """`climb_since_s`: when the takeoff ramp started (or starts), if a takeoff is on."""
        if not armed:
            self._ground_since_s = None
            if airframe.on_ground:
                self.landed = True
            return False
        if self.landed:
            lifting = climb_since_s is not None and now_s - climb_since_s >= TAKEOFF_DETECT_S
            if lifting or not airframe.on_ground:
                self.landed = False
                self._ground_since_s = None
                self._out.send_text(mavlink.MAV_SEVERITY_INFO, "Takeoff detected\t")
            return False
        if not airframe.on_ground:
            self._ground_since_s = None
            return False
        if climb_since_s is not None and now_s - climb_since_s < TAKEOFF_DETECT_S + 5.0:
            return False  # still spooling up for a takeoff
        if self._ground_since_s is None:
            self._ground_since_s = now_s
        if now_s - self._ground_since_s >= LANDING_DETECT_S:
            self.landed = True
            self._ground_since_s = None
            self._out.send_text(mavlink.MAV_SEVERITY_INFO, "Landing detected\t")
            return True
        return False
