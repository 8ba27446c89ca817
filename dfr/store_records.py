"""What the store gives back and raises: the records of calls, sorties, share links,
audit entries, video views, track points and holds; the store's errors; the audit
outcomes and the call and sortie states its rules name; and `utc_now`, the time every
row is written with. Nothing here touches the database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from missions.sortie import FINAL_STATES

ACCEPTED, REFUSED, DENIED, INTERRUPTED = "accepted", "refused", "denied", "interrupted"

OPEN_CALL_STATES = ("new", "queued")
#: A sortie in these has its drone reserved but has not launched.
UNLAUNCHED_STATES = ("reserved", "awaiting_pilot")
#: A sortie in these is over (its drone released).
FINAL_SORTIE_STATES = tuple(sorted(str(state) for state in FINAL_STATES))


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError):
    """No record with that id."""


class Conflict(StoreError):
    """The record is not in a state that allows the change."""


class NotRetaskable(Conflict):
    """The sortie is no longer in the air: its drone cannot be re-tasked."""


class HoldKind(StrEnum):
    """What a hold on a sortie keeps: its record as evidence, or it out of the public log."""

    EVIDENCE = "evidence_hold"
    PUBLICATION = "publication_hold"

    @property
    def table(self) -> str:
        return {HoldKind.EVIDENCE: "evidence_holds", HoldKind.PUBLICATION: "publication_holds"}[
            self
        ]


@dataclass(frozen=True, slots=True)
class NewCall:
    latitude_deg: float
    longitude_deg: float
    priority: int = 1
    source: str = "manual"
    summary: str = ""
    external_id: str | None = None
    call_type: str | None = None
    purpose: str | None = None  # a launch without a call: why (dfr.purposes.LaunchPurpose)
    location_uncertainty_m: float | None = None  # the scene is within this of the point
    #: The sender's version of this call (UTC ISO 8601, to the microsecond), for senders
    #: that send the same call again as it changes (EIDO): see Store.take_call_version.
    source_updated_at: str | None = None
    confidence: float | None = None  # a gunshot sensor's, 0..1
    rounds: int | None = None  # the rounds a gunshot sensor counted
    requester: str | None = None  # the officer who asked for a drone ("drone to me")
    overwatch: bool = False  # kept watched, drone after drone, until closed (dfr.overwatch)
    agency: str | None = None  # whose call it is (dfr.agencies); None: the implicit agency


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: int
    created_at: str
    latitude_deg: float
    longitude_deg: float
    priority: int
    source: str
    summary: str
    external_id: str | None
    status: str
    call_type: str | None = None
    purpose: str | None = None
    location_uncertainty_m: float | None = None
    source_updated_at: str | None = None
    confidence: float | None = None
    rounds: int | None = None
    #: The launch policy that took the call, what came of it and why (dfr.auto_launch).
    policy: str | None = None
    policy_outcome: str | None = None
    policy_reason: str | None = None
    #: The officer who asked for a drone to come to them (dfr.officer_requests).
    requester: str | None = None
    #: Kept watched until closed: a relief drone launched before each one must leave.
    overwatch: bool = False
    #: The agency whose call it is (None: the implicit one), and the others it is shared
    #: with (they see it too: a mutual-aid drone's agency, the agency that reported it).
    agency: str | None = None
    shared_with: tuple[str, ...] = ()


class VersionOutcome(StrEnum):
    """What a version of a call from another system did (Store.take_call_version)."""

    CREATED = "created"  # the first: the call is stored
    UPDATED = "updated"  # later than the one stored: the call now says what it says
    UNCHANGED = "unchanged"  # the version stored, again: nothing changes
    STALE = "stale"  # earlier than the one stored: ignored


@dataclass(frozen=True, slots=True)
class CallVersion:
    """A version of a call taken: the call as it now is, and what changed."""

    call: CallRecord
    outcome: VersionOutcome
    before: CallRecord | None = None  # UPDATED: the call as it was
    moved_m: float | None = None  # UPDATED: how far its position moved


@dataclass(frozen=True, slots=True)
class SortieEvent:
    at: str
    state: str
    vehicle_s: float | None
    cause: str


@dataclass(frozen=True, slots=True)
class SortieRecord:
    id: int
    call_id: int | None
    drone_id: str
    station_id: str
    state: str
    created_at: str
    created_by: str
    eta_s: float | None
    route: dict
    launched_by: str | None = None
    launched_at: str | None = None
    policy: str | None = None  # the launch policy that sent it
    confirm_expires_at: str | None = None  # held for the pilot by a policy: until when
    relieves: int | None = None  # overwatch: the sortie on scene it takes over from
    events: tuple[SortieEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Retasked:
    """A flying sortie moved to another call (`Store.retask`): the sortie and the call
    as they are now, and the call it served before with what it was, for an undo."""

    sortie: SortieRecord
    call: CallRecord
    previous: CallRecord | None
    previous_status: str | None
    previous_route: dict
    previous_eta_s: float | None


#: Sortie states (as stored) in which the drone is in the air and may be re-tasked.
RETASKABLE_STATES = ("en_route", "on_scene", "returning")


@dataclass(frozen=True, slots=True)
class ShareLinkRecord:
    id: str
    call_id: int
    issued_by: str
    issued_at: str
    revoked_at: str | None
    revoked_by: str | None
    call_status: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict
    outcome: str = ACCEPTED
    reason: str = ""
    prev_hash: str | None = None  # the chain (dfr.audit_chain); None: never chained
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class NewVideoView:
    """Someone starting to watch a drone's live video."""

    principal: str
    role: str
    share_link_id: str | None  # set when an officer watches through a share link
    stream_id: str  # the drone's id
    call_id: int | None  # the call the drone was serving, if any
    sortie_id: int | None  # and its sortie
    address: str  # the viewer's client address


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One sample of a sortie's flight. Altitudes: above mean sea level, and above the
    station (the drone's home); the camera target is the scene it is pointed at."""

    sortie_id: int
    at_utc: str
    vehicle_s: float | None
    latitude_deg: float
    longitude_deg: float
    alt_amsl_m: float
    alt_above_station_m: float
    heading_deg: float | None
    ground_speed_m_s: float | None
    flight_mode: str
    battery_pct: float | None
    target_latitude_deg: float | None
    target_longitude_deg: float | None


@dataclass(frozen=True, slots=True)
class HoldRecord:
    """A hold on a sortie: who placed it and why, and who lifted it and why (None while
    it holds)."""

    kind: HoldKind
    id: int
    sortie_id: int
    placed_by: str
    placed_at: str
    reason: str
    lifted_by: str | None
    lifted_at: str | None
    lift_reason: str | None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


@dataclass(frozen=True, slots=True)
class FlightRecords:
    """How many track points and transfers (mission and fence) a sortie has, and when
    its last event was (ISO UTC): what retention deletes after `records_days`."""

    sortie_id: int
    last_event_at: str
    track_points: int
    transfers: int


@dataclass(frozen=True, slots=True)
class VideoViewRecord:
    id: int
    principal: str
    role: str
    share_link_id: str | None
    stream_id: str
    call_id: int | None
    sortie_id: int | None
    address: str
    started_at: str
    ended_at: str | None
    end_reason: str | None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def call_record(row: Any) -> CallRecord:
    data = dict(row)
    data["overwatch"] = bool(data["overwatch"])
    data["shared_with"] = tuple(json.loads(data["shared_with"] or "[]"))
    return CallRecord(**data)
