"""Auto-launch policies: the calls a drone flies to without a dispatcher's click.

Pure: a policy judges a call by where it came from (`source`), its type, its priority,
the sensor's confidence and rounds, where it is and the local time of day. The
deployment lists its policies in order (`[[launch_policies]]`, `dfr.deployment`);
`LaunchPolicies.matching` gives the first that takes a call, and `LaunchPolicies.explain`
says why each of the others did not. What happens then (launch now, or hold the launch
for the pilot's confirmation for `confirm_s`, then launch or let it expire) is the
application's (`dfr.auto_launch`).

>>> hours = DailyHours.parse("22:00-06:00")
>>> hours.contains(23 * 60), hours.contains(5 * 60 + 59), hours.contains(6 * 60)
(True, True, False)

Errors::

    PolicyError     (ValueError) hours that are not HH:MM-HH:MM, or an area that is no polygon
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from typing import Protocol

import shapely
from shapely.geometry import MultiPolygon, Polygon

from missions.geo import GeoPoint, LocalFrame

MINUTES_PER_DAY = 24 * 60
_HOURS = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


class PolicyError(ValueError):
    """Something a launch policy cannot be made of."""


class LaunchMode(StrEnum):
    IMMEDIATE = "immediate"  # the best station launches at once
    PILOT_CONFIRM = "pilot_confirm"  # held for the pilot's one click, for confirm_s


class OnTimeout(StrEnum):
    """What a held launch does when the pilot has not confirmed it in time."""

    LAUNCH = "launch"
    EXPIRE = "expire"  # the drone is released and the call left for a dispatcher


class PolicyCall(Protocol):
    """What a policy judges of a call (`dfr.store.CallRecord` has it)."""

    @property
    def source(self) -> str: ...
    @property
    def call_type(self) -> str | None: ...
    @property
    def priority(self) -> int: ...
    @property
    def latitude_deg(self) -> float: ...
    @property
    def longitude_deg(self) -> float: ...
    @property
    def confidence(self) -> float | None: ...
    @property
    def rounds(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class DailyHours:
    """A window of local time, every day, in minutes after midnight: from `start_min`
    (included) to `end_min` (excluded); an end before the start crosses midnight."""

    start_min: int
    end_min: int

    @classmethod
    def parse(cls, text: str) -> DailyHours:
        """ "22:00-06:00" (crossing midnight), "00:00-24:00" (all day). Raises PolicyError.

        >>> DailyHours.parse("08:30-17:00")
        DailyHours(start_min=510, end_min=1020)
        """
        match = _HOURS.match(text)
        if match is None:
            raise PolicyError(f"hours {text!r} must read HH:MM-HH:MM, e.g. 22:00-06:00")
        start_h, start_m, end_h, end_m = (int(g) for g in match.groups())
        for hour, minute, last_hour in ((start_h, start_m, 23), (end_h, end_m, 24)):
            if hour > last_hour or minute > 59 or (hour == 24 and minute != 0):
                raise PolicyError(f"hours {text!r}: {hour:02d}:{minute:02d} is not a time of day")
        start, end = start_h * 60 + start_m, end_h * 60 + end_m
        if start == end % MINUTES_PER_DAY and end != MINUTES_PER_DAY:
            raise PolicyError(
                f"hours {text!r} start and end at the same time (all day: 00:00-24:00)"
            )
        return cls(start, end)

    def contains(self, minute_of_day: int) -> bool:
        if self.start_min < self.end_min:
            return self.start_min <= minute_of_day < self.end_min
        return minute_of_day >= self.start_min or minute_of_day < self.end_min

    def __str__(self) -> str:
        return f"{_hhmm(self.start_min)}-{_hhmm(self.end_min)}"


@dataclass(frozen=True)
class PolicyArea:
    """Where a policy applies: a named airspace zone or the policy's own polygon, in the
    deployment's local frame (metres), prepared once."""

    name: str
    frame: LocalFrame
    shape_local: Polygon | MultiPolygon

    def __post_init__(self) -> None:
        shapely.prepare(self.shape_local)

    @classmethod
    def from_lonlat(
        cls, name: str, ring: list[tuple[float, float]], frame: LocalFrame
    ) -> PolicyArea:
        """A polygon given as (longitude, latitude) corners. Raises PolicyError."""
        polygon = Polygon(ring)
        if not polygon.is_valid or polygon.area <= 0:
            raise PolicyError("polygon is not a valid polygon (it crosses itself or has no area)")
        return cls(name, frame, shapely.transform(polygon, frame.lonlat_array_to_xy))

    def contains(self, point: GeoPoint) -> bool:
        return bool(self.shape_local.covers(shapely.Point(self.frame.to_xy(point))))


@dataclass(frozen=True)
class LaunchPolicy:
    """One `[[launch_policies]]` entry. Unset criteria take every call; `sources` is
    never empty."""

    name: str
    sources: frozenset[str]
    call_types: frozenset[str] = frozenset()  # lower case (dfr.deployment.call_type_key)
    min_confidence: float | None = None  # 0..1, a sensor's
    min_rounds: int | None = None
    max_priority: int | None = None  # the least urgent priority taken (1 is the most urgent)
    area: PolicyArea | None = None
    hours: DailyHours | None = None
    mode: LaunchMode = LaunchMode.IMMEDIATE
    confirm_s: float = 20.0  # pilot_confirm: how long the pilot has
    on_timeout: OnTimeout = OnTimeout.EXPIRE
    agency: str | None = None  # only calls of this agency (dfr.agencies); None: any

    @property
    def actor(self) -> str:
        """Who the audit log and the sortie name as having acted: `policy:<name>`."""
        return f"policy:{self.name}"

    def mismatch(self, call: PolicyCall, local_now: datetime) -> str | None:
        """Why the policy does not take `call` at `local_now` (a local time of the
        deployment's zone): the first criterion it fails; None when it takes it."""
        if self.agency is not None and getattr(call, "agency", None) != self.agency:
            return f"the call is not agency {self.agency}'s"
        if call.source not in self.sources:
            return f"source {call.source} is not {' or '.join(sorted(self.sources))}"
        if self.call_types and (call.call_type or "") not in self.call_types:
            return f"call type {call.call_type or '(none)'} is not one of its types"
        if self.max_priority is not None and call.priority > self.max_priority:
            return f"priority {call.priority} is less urgent than {self.max_priority}"
        if self.min_confidence is not None:
            if call.confidence is None:
                return "the call has no confidence"
            if call.confidence < self.min_confidence:
                return f"confidence {call.confidence:.0%} is below {self.min_confidence:.0%}"
        if self.min_rounds is not None:
            if call.rounds is None:
                return "the call has no count of rounds"
            if call.rounds < self.min_rounds:
                return f"{call.rounds} round(s) are fewer than {self.min_rounds}"
        if self.area is not None and not self.area.contains(
            GeoPoint(call.latitude_deg, call.longitude_deg)
        ):
            return f"the scene is outside {self.area.name}"
        if self.hours is not None:
            minute = local_now.hour * 60 + local_now.minute
            if not self.hours.contains(minute):
                return f"{_hhmm(minute)} is outside its hours {self.hours}"
        return None

    def describe(self) -> dict[str, object]:
        """The policy as the consoles and the API show it."""
        return {
            "name": self.name,
            "sources": sorted(self.sources),
            "call_types": sorted(self.call_types),
            "min_confidence": self.min_confidence,
            "min_rounds": self.min_rounds,
            "max_priority": self.max_priority,
            "zone": self.area.name if self.area is not None else None,
            "hours": str(self.hours) if self.hours is not None else None,
            "mode": str(self.mode),
            "agency": self.agency,
            "confirm_s": self.confirm_s if self.mode is LaunchMode.PILOT_CONFIRM else None,
            "on_timeout": str(self.on_timeout) if self.mode is LaunchMode.PILOT_CONFIRM else None,
        }


@dataclass(frozen=True)
class LaunchPolicies:
    """A deployment's policies in their order, how many of their launches may be in
    flight at once (held ones included), and the zone their hours are read in."""

    policies: tuple[LaunchPolicy, ...] = ()
    max_concurrent: int = 1
    time_zone: tzinfo = field(default=UTC)

    def __bool__(self) -> bool:
        return bool(self.policies)

    def named(self, name: str) -> LaunchPolicy | None:
        return next((p for p in self.policies if p.name == name), None)

    def concern(self, call: PolicyCall) -> bool:
        """Whether any policy takes calls from the call's source at all."""
        return any(call.source in p.sources for p in self.policies)

    def matching(self, call: PolicyCall, now: datetime) -> LaunchPolicy | None:
        """The first policy that takes `call` at `now` (an aware time), if any."""
        local = now.astimezone(self.time_zone)
        return next((p for p in self.policies if p.mismatch(call, local) is None), None)

    def explain(self, call: PolicyCall, now: datetime) -> dict[str, str]:
        """Why each policy that takes calls from the call's source does not take this one."""
        local = now.astimezone(self.time_zone)
        reasons = {}
        for policy in self.policies:
            why = policy.mismatch(call, local)
            if why is not None and call.source in policy.sources:
                reasons[policy.name] = why
        return reasons


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"
