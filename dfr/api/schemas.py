"""Request and response models of the REST API (pydantic: every bad field is a 422 naming it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: Ids are SQLite integers: larger ones cannot exist (and must not reach the database).
MAX_ID = 2**63 - 1


def _encodable(text: str) -> str:
    """Refuse text that is not Unicode (a lone surrogate such as "\\ud800")."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


# Numbers are numbers (never booleans or strings), finite, and in range.
Latitude = Annotated[
    float, Field(strict=True, ge=-90, le=90, allow_inf_nan=False, description="WGS84 degrees")
]
Longitude = Annotated[
    float, Field(strict=True, ge=-180, le=180, allow_inf_nan=False, description="WGS84 degrees")
]
Priority = Annotated[int, Field(strict=True, ge=1, le=5, description="1 is the most urgent")]
Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
Text = Annotated[str, AfterValidator(_encodable)]


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


class CadCallIn(_In):
    """What a CAD system posts: its incident number, location, priority and nature."""

    incident_id: Text = Field(min_length=1, max_length=100)
    latitude: Latitude
    longitude: Longitude
    priority: Priority = 2
    nature: Text = Field("", max_length=500)


class GunshotAlertIn(_In):
    """A gunshot-detection alert: a located impulse with rounds counted."""

    alert_id: Text = Field(min_length=1, max_length=100)
    latitude: Latitude
    longitude: Longitude
    rounds: int = Field(1, ge=1, le=1000)
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


class CandidateOut(BaseModel):
    station_id: str
    drone_id: str
    eta_s: float
    distance_m: float
    battery_needed_pct: float
    standoff: bool
    route: dict[str, Any]


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
    events: list[SortieEventOut]


class DispatchOut(BaseModel):
    queued: bool
    call: CallOut
    sortie: SortieOut | None = None
    station_id: str | None = None
    eta_s: float | None = None
    recommendation: RecommendationOut


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
