"""Fault injection for tests and demos: link loss, battery failure, GPS loss, refused arming,
lost mission uploads.

Each fault acts on the next physics step. `FaultSpec` is the command-line form
(``INSTANCE:KIND[=VALUE][@T]``, T in vehicle seconds) used by ``python -m sitl``.

>>> FaultSpec.parse("1:battery=6@120")
FaultSpec(instance=1, kind='battery', value=6.0, at_s=120.0)
>>> FaultSpec.parse("0:gps-loss")
FaultSpec(instance=0, kind='gps-loss', value=None, at_s=0.0)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sitl.vehicle import SimVehicle

KINDS = ("link-loss", "battery", "gps-loss", "refuse-arming")
_SPEC = re.compile(r"^(\d+):([a-z-]+)(?:=([0-9.]+))?(?:@([0-9.]+))?$")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """A fault scheduled from the command line."""

    instance: int
    kind: str
    value: float | None = None
    at_s: float = 0.0

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse ``INSTANCE:KIND[=VALUE][@T]``; raises ValueError."""
        match = _SPEC.match(text.strip())
        if match is None or match.group(2) not in KINDS:
            raise ValueError(
                f"bad fault {text!r}: want INSTANCE:KIND[=VALUE][@T],"
                f" KIND one of {', '.join(KINDS)}"
            )
        instance, kind, value, at_s = match.groups()
        return cls(int(instance), kind, float(value) if value else None, float(at_s or 0.0))


class Faults:
    """The fault switches of one vehicle (`vehicle.faults`)."""

    def __init__(self, vehicle: SimVehicle) -> None:
        self._v = vehicle

    @property
    def link_lost(self) -> bool:
        return not self._v.link.enabled

    def link_loss(self, active: bool = True) -> None:
        """Stop sending and ignore everything received (True), or restore the link."""
        self._v.link.enabled = not active

    def battery_failure(self, remaining_pct: float = 6.0) -> None:
        """Drop the charge to `remaining_pct` (default below BAT_CRIT_THR)."""
        self._v.battery.fail(remaining_pct / 100.0)

    def gps_loss(self, active: bool = True) -> None:
        """Lose the GPS (fix 0); the position estimate goes invalid after EKF2_NOAID_TOUT."""
        self._v.commander.gps_ok = not active

    def refuse_arming(self, reason: str | None = "arming refused by test") -> None:
        """Refuse every arm attempt with "Preflight Fail: <reason>"; None allows it again."""
        self._v.commander.refuse_arming_reason = reason

    def lose_upload_starts(self, count: int) -> None:
        """Lose the next `count` upload starts (MISSION_COUNT, any list), as a congested
        link would: the ground station's own retries of one upload are lost as well."""
        self._v.mission_transfer.lose_upload_starts = count

    def apply(self, spec: FaultSpec) -> None:
        if spec.kind == "link-loss":
            self.link_loss(True)
        elif spec.kind == "battery":
            self.battery_failure(6.0 if spec.value is None else spec.value)
        elif spec.kind == "gps-loss":
            self.gps_loss(True)
        elif spec.kind == "refuse-arming":
            self.refuse_arming()
