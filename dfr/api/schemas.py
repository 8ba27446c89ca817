"""Request and response models of the REST API (pydantic: every bad field is a 422 naming it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from dfr.deployment import CALL_TYPE_PATTERN, call_type_key
from dfr.purposes import LaunchPurpose

#: Ids are SQLite integers: larger ones cannot exist (and must not reach the database).
MAX_ID = 2**63 - 1


def _encodable(text: str) -> str:
    """Refuse text that is not Unicode (a lone surrogate such as "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


def _whole(value: object) -> object:
    """JSON has one number type: 2.0 is the integer 2 (a CAD system may write every number
    as a double). A fraction stays a float, and is refused where an integer is wanted."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Numbers are numbers (never booleans or strings), finite, and in range.
Whole = BeforeValidator(_whole)
Latitude = Annotated[
    float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False, description="WGS84 degrees")
]
Longitude = Annotated[
    float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False, description="WGS84 degrees")
]
# (`Whole` after `Field`: before it, pydantic writes ge/le into the JSON schema as they are.)
Priority = Annotated[int, Field(strict=True, ge=1, le=5, description="1 is the most urgent"), Whole]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID), Whole]
Text = Annotated[str, AfterValidator(_encodable)]
CallType = Annotated[
    str,
    Field(
        pattern=CALL_TYPE_PATTERN,
        description="the kind of incident, as CAD names it (e.g. burglary); stored in lower "
        "case. The public flight log shows its category from the deployment, never the text",
    ),
    AfterValidator(call_type_key),
]
# The fixed list, by its values ("training"...): JSON brings them as text.
Purpose = Annotated[LaunchPurpose, Field(strict=False)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LoginIn(_In):
    username: Text = Field(min_length=1, max_length=100)
    password: Text = Field(min_length=1, max_length=200)


class LoginOut(BaseModel):
    token: str
    name: str
    role: str


class CallIn(_In):
    latitude_deg: Latitude
    longitude_deg: Longitude
    priority: Priority = 1
    summary: Text = Field("", max_length=500)
    source: Literal["manual", "map", "cad", "gunshot"] = "manual"
    external_id: Text | None = Field(None, max_length=100)
    call_type: CallType | None = None
    overwatch: bool = Field(
        False, description="keep the call watched, drone after drone, until it is closed"
    )


class OverwatchIn(_In):
    overwatch: bool = Field(
        description="true: keep the call watched, a relief drone launched before each one "
        "must leave, until the call is closed; false: the drone on scene leaves when its "
        "mission says"
    )


Accuracy = Annotated[
    float,
    Field(
        strict=True,
        gt=0,
        le=100_000,
        allow_inf_nan=False,
        description="the phone's accuracy radius, metres (the Geolocation API's)",
    ),
]


class OfficerRequestIn(_In):
    """An officer's "drone to me": the phone's position fix and the chosen priority."""

    latitude_deg: Latitude
    longitude_deg: Longitude
    accuracy_m: Accuracy
    priority: Priority = 2
    note: Text = Field("", max_length=200)


class OfficerPositionIn(_In):
    """The officer's updated position, and whether the drone should follow it."""

    latitude_deg: Latitude
    longitude_deg: Longitude
    accuracy_m: Accuracy
    follow: bool = False


class FollowOut(BaseModel):
    """What a position update did: the drone repositioned, or why not."""

    follow: bool = Field(description="follow me is on")
    outcome: Literal[
        "off", "waiting", "ended", "repositioned", "too_soon", "moved_too_little", "refused"
    ]
    reason: str
    target_latitude_deg: float | None = None
    target_longitude_deg: float | None = None


class CadCallIn(_In):
    """What a CAD system posts: its incident number, location, priority and nature."""

    incident_id: Text = Field(min_length=1, max_length=100)
    latitude: Latitude
    longitude: Longitude
    priority: Priority = 2
    nature: Text = Field("", max_length=500)
    call_type: CallType | None = None


class GunshotAlertIn(_In):
    """A gunshot-detection alert: a located impulse with rounds counted."""

    alert_id: Text = Field(min_length=1, max_length=100)
    latitude: Latitude
    longitude: Longitude
    rounds: Annotated[int, Whole] = Field(1, ge=1, le=1000)
    confidence: float = Field(1.0, ge=0, le=1, allow_inf_nan=False)


class CallOut(BaseModel):
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
    purpose: str | None = Field(None, description="a launch without a call: why it flew")
    location_uncertainty_m: float | None = Field(
        None, description="the scene is within this many metres of the position (an EIDO circle)"
    )
    source_updated_at: str | None = Field(
        None, description="EIDO calls: the version stored, the incident's lastUpdateTimeStamp (UTC)"
    )
    confidence: float | None = Field(None, description="gunshot alerts: the sensor's, 0..1")
    rounds: int | None = Field(None, description="gunshot alerts: the rounds counted")
    policy: str | None = Field(
        None, description="the launch policy that took the call (its actor: policy:<name>)"
    )
    policy_outcome: (
        Literal[
            "not_matched", "left", "launched", "awaiting_pilot", "expired", "declined", "aborted"
        ]
        | None
    ) = Field(
        None,
        description="what the launch policies did with the call: none took it (not_matched), "
        "one took it but left it for a dispatcher (left: the limit, or no drone free), "
        "launched it, holds it for the pilot, or its held launch expired, was declined "
        "or its launch aborted (the call is open again)",
    )
    policy_reason: str | None = Field(None, description="why, in a sentence")
    requester: str | None = Field(
        None, description='officer requests ("drone to me"): the officer who asked'
    )
    overwatch: bool = Field(
        False,
        description="flagged to be kept watched drone after drone until closed (calls of "
        "the priorities in the deployment's [overwatch] section are kept so too)",
    )
    agency: str | None = Field(
        None, description="the agency whose call it is (none: a deployment without agencies)"
    )
    shared_with: list[str] = Field(
        default_factory=list,
        description="other agencies that see the call (mutual aid, the agency that reported it)",
    )


class EidoOut(BaseModel):
    """What an EIDO did: stored a call, updated it, or nothing (and why)."""

    outcome: Literal["created", "updated", "unchanged", "stale"] = Field(
        description="created: a new call; updated: a later version changed it; unchanged: "
        "this version was stored already; stale: older than the version stored, ignored"
    )
    detail: str
    call: CallOut
    moved_m: float | None = Field(None, description="updated: how far the scene moved")
    alert: str | None = Field(
        None, description="the pilot alert the update raised (a drone was on the call)"
    )


class CandidateOut(BaseModel):
    station_id: str
    drone_id: str
    airborne: bool = Field(
        False, description="already flying a sortie: dispatching it re-tasks it in flight"
    )
    retask_sortie_id: int | None = Field(None, description="the sortie it flies now")
    retask_from_call_id: int | None = Field(None, description="the call it serves now")
    eta_s: float
    eta_calibrated: bool = Field(
        description="the ETA comes from figures fitted to this drone's own flights "
        "(false: the deployment's [eta] figures)"
    )
    eta_flights: int = Field(description="how many flights those figures were fitted to")
    distance_m: float
    battery_needed_pct: float
    standoff: bool
    route: dict[str, Any]
    altitude_m: float = Field(description="cruise altitude above the station, metres")
    altitude_limit: str | None = Field(
        None, description="the ceiling zone that keeps the route below the cruise altitude"
    )
    agency: str | None = Field(None, description="the agency owning the drone")
    mutual_aid: Literal["always", "pilot_confirm"] | None = Field(
        None,
        description="a drone of another agency than the call's: the mutual-aid rule it flies "
        "by (always: launches at once; pilot_confirm: held for its own agency's pilot)",
    )


class EtaFiguresOut(BaseModel):
    launch_latency_s: float
    horizontal_accel_m_s2: float


class EtaCalibrationOut(BaseModel):
    """The ETA figures a drone is ranked by."""

    drone_id: str
    station_id: str
    calibrated: bool = Field(
        description="fitted to this drone's own flights; false: the deployment's [eta] figures"
    )
    flights: int = Field(description="flights the figures were fitted to (0: not calibrated)")
    samples: int = Field(description="flights kept that flew straight to their scene")
    launch_latency_s: float = Field(description="dispatch to takeoff, seconds")
    horizontal_accel_m_s2: float
    calibrate_after_flights: int = Field(description="flights needed before calibrating")
    flights_kept: int = Field(description="the last this many flights are fitted")
    deployment: EtaFiguresOut = Field(description="the deployment's [eta] figures")


class ExclusionOut(BaseModel):
    station_id: str
    drone_id: str
    kind: str = Field(
        description="offline, maintenance, on_sortie, not_docked, unhealthy, "
        "beyond_endurance, route_too_long, no_route or low_battery"
    )
    reason: str


class RecommendationOut(BaseModel):
    candidates: list[CandidateOut]
    excluded: list[ExclusionOut]


class DispatchIn(_In):
    station_id: Text | None = Field(None, max_length=100, description="None: the best station")


class SortieEventOut(BaseModel):
    at: str
    state: str
    vehicle_s: float | None
    cause: str


class SortieOut(BaseModel):
    id: int
    call_id: int | None
    drone_id: str
    station_id: str
    state: str
    created_at: str
    created_by: str
    eta_s: float | None
    route: dict[str, Any]
    launched_by: str | None = None
    launched_at: str | None = None
    policy: str | None = Field(None, description="the launch policy that sent it")
    confirm_expires_at: str | None = Field(
        None,
        description="held for the pilot by a policy: when its confirmation runs out (UTC); "
        "then it launches or expires as the policy says",
    )
    relieves: int | None = Field(
        None, description="overwatch: the sortie on scene this one was sent to relieve"
    )
    events: list[SortieEventOut]


class DispatchOut(BaseModel):
    queued: bool
    call: CallOut
    sortie: SortieOut | None = None
    station_id: str | None = None
    eta_s: float | None = None
    retasked_from_call_id: int | None = Field(
        None, description="a drone re-tasked in flight: the call it served before"
    )
    retask_failed: str | None = Field(
        None,
        description="the drone in flight ranked best did not take the new mission (why; it "
        "holds for the pilot): the drone sent is the next best on its dock, or the call queued",
    )
    recommendation: RecommendationOut
    mutual_aid: Literal["always", "pilot_confirm"] | None = Field(
        None,
        description="another agency's drone was sent: the mutual-aid rule it flies by "
        "(pilot_confirm: held until its own agency's pilot confirms)",
    )


class ShareLinkOut(BaseModel):
    id: str
    url: str
    token: str
    expires_in_s: float


class ShareLinkInfo(BaseModel):
    id: str
    call_id: int
    issued_by: str
    issued_at: str
    revoked_at: str | None
    revoked_by: str | None
    call_status: str


class CommandIn(_In):
    command: Literal["hold", "resume", "orbit", "reposition", "return", "land", "abort"]
    radius_m: float | None = Field(None, gt=5, le=1000, allow_inf_nan=False, description="orbit")
    latitude_deg: Latitude | None = None
    longitude_deg: Longitude | None = None
    relative_altitude_m: float | None = Field(None, ge=10, le=120, allow_inf_nan=False)


class LaunchIn(_In):
    """A pilot's launch: to a queued call, or to a point clicked on the map."""

    station_id: Text = Field(min_length=1, max_length=100)
    call_id: Id | None = None
    latitude_deg: Latitude | None = None
    longitude_deg: Longitude | None = None
    purpose: Purpose | None = Field(
        None,
        validate_default=True,
        description="why a launch to a point flies (required then, refused with a call)",
    )

    @field_validator("purpose")
    @classmethod
    def _bound_to_a_reason(
        cls, purpose: LaunchPurpose | None, info: ValidationInfo
    ) -> LaunchPurpose | None:
        if "call_id" not in info.data:
            return purpose  # call_id itself was refused
        if info.data["call_id"] is None and purpose is None:
            raise ValueError(
                "a launch without a call needs a purpose: training, maintenance_test or "
                "pre_planned_event"
            )
        if info.data["call_id"] is not None and purpose is not None:
            raise ValueError("a launch to a call flies for that call: leave purpose out")
        return purpose


class MaintenanceIn(_In):
    on: bool


class AuditOut(BaseModel):
    id: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    outcome: str = Field(
        description="accepted, refused, denied or interrupted ('' before dfr kept outcomes)"
    )
    reason: str = Field(description="why it was refused or denied: what the client was told")
    prev_hash: str | None = Field(
        None, description="the hash of the entry before it (64 zeros for the first entry)"
    )
    hash: str | None = Field(
        None,
        description="SHA-256 of the entry's canonical JSON, prev_hash included (null: an entry"
        " never chained); checked by `dfr audit verify`",
    )


class VideoViewOut(BaseModel):
    """Someone watching a drone's live video, from when to when."""

    id: int
    principal: str
    role: str
    share_link_id: str | None
    stream_id: str = Field(description="the drone's id")
    call_id: int | None = Field(description="the call the drone was serving when it began")
    sortie_id: int | None
    address: str = Field(description="the viewer's client address")
    started_at: str
    ended_at: str | None = Field(description="null while the viewer is still watching")
    end_reason: str | None


class ErrorOut(BaseModel):
    """Every error but 422: a sentence saying what went wrong."""

    detail: str


class AuditCheckpointOut(BaseModel):
    """A signed statement that audit entry `entry_id` had the hash `head_hash`."""

    id: int = Field(description="its place among the checkpoints: the paging cursor")
    entry_id: int
    head_hash: str
    at: str = Field(description="when it was signed (UTC)")
    kind: str = Field(description="start, interval or stop: when the server signs its log")
    key_id: str = Field(description="the signing key's fingerprint")
    signature: str = Field(description="Ed25519 over the checkpoint's canonical JSON, base64")


class AuditPublicKeyOut(BaseModel):
    """The public half of the key that signs the audit log's checkpoints."""

    algorithm: Literal["Ed25519"] = "Ed25519"
    public_key_pem: str
    fingerprint: str = Field(
        description="SHA-256 (hex) of the raw 32-byte public key: the key_id of its checkpoints"
    )


class TrackPointOut(BaseModel):
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


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    type: str


class InvalidOut(BaseModel):
    """422: one entry per bad parameter or field (the input is not echoed back)."""

    detail: list[FieldError]


class HealthOut(BaseModel):
    ok: bool = Field(description="every drone connected (that this server links)")
    deployment: str
    drones: dict[str, bool] = Field(description="drone id: connected")
    ready: dict[str, bool] = Field(
        description="drone id: docked, healthy, its fence and parameters verified and free "
        "(a dispatch now would take it)"
    )
    event_loop_lag: dict[str, float | None] = Field(description="last_ms and max_ms")
    inherited_sorties: dict[str, int] = Field(
        description="station id: a sortie the last run left open, not yet settled"
    )
    linked_elsewhere: dict[str, str] = Field(
        default_factory=dict,
        description="several servers on one database: drone id: the server linking it",
    )


class HoldIn(_In):
    reason: Text = Field(min_length=3, max_length=500, description="why, for the audit log")


class HoldOut(BaseModel):
    """A hold on a sortie: placed by whom and why; lifted by whom and why (null while on)."""

    kind: Literal["evidence_hold", "publication_hold"]
    id: int
    sortie_id: int
    placed_by: str
    placed_at: str
    reason: str
    lifted_by: str | None
    lifted_at: str | None
    lift_reason: str | None
    active: bool


class SortieHoldsOut(BaseModel):
    sortie_id: int
    held_as_evidence: bool
    held_from_public_log: bool
    holds: list[HoldOut] = Field(description="every hold the sortie has had, oldest first")


class PublicFlightOut(BaseModel):
    """One flight of the public log. Times are local to the deployment, to the minute."""

    flight_id: int
    date: str
    launched_at: str
    landed_at: str
    duration_s: int
    station_id: str
    station: str
    category: str = Field(
        description="the public category of the call's type, or the purpose of a launch "
        "without a call"
    )
    call_for_service: bool
    priority: int | None
    call_to_scene_s: int | None
    distance_flown_m: int
    max_height_above_ground_m: int | None = Field(
        description="above the ground of the station it took off from"
    )
    video_recorded: bool
    held_as_evidence: bool
    outcome: Literal["completed", "aborted", "fault"]
    track: list[list[float]] = Field(
        description="[lon, lat] centres of grid cells (track_grid_m wide), a few dozen at most"
    )


class PublicMonthOut(BaseModel):
    month: str
    flights: int
    median_call_to_scene_s: int | None
    by_category: dict[str, int]


class PublicLogOut(BaseModel):
    agency: str
    generated_at: str
    time_zone: str
    delay_h: float = Field(description="flights appear this many hours after they ended")
    track_grid_m: float
    held_back: int = Field(description="flights old enough to publish that are held back")
    months: list[PublicMonthOut]
    flights: list[PublicFlightOut]


class CameraOut(BaseModel):
    """A fixed camera near a point or covering a call's scene."""

    id: str
    name: str
    latitude_deg: float
    longitude_deg: float
    heading_deg: float = Field(description="where it looks, degrees clockwise from north")
    fov_deg: float = Field(description="how wide it sees, degrees (360: a dome)")
    range_m: float = Field(description="how far it sees, metres")
    agency: str | None = None
    source: str = Field(description="where its video is read from, any password redacted")
    distance_m: float = Field(description="from the camera to the point asked about, metres")
    bearing_deg: float = Field(description="from the camera to the point, clockwise from north")
    stream_id: str = Field(description="its live stream: cam-<id>, opened while watched")
    whep_url: str = Field(description="WHEP endpoint of its live video (consoles only)")
