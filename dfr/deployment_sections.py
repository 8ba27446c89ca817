"""The deployment file's operational sections, and the strict base and field types
every section shares.

Each section is one table of the deployment TOML (`[public_log]`, `[public_categories]`,
`[retention]`, `[eido]`, `[eta]`, `[[launch_policies]]`, `[auto_launch]`,
`[officer_requests]`, `[overwatch]`, `[video]`, `[cameras]`), validated as it is read.
The file itself and its core sections (`[deployment]`, `[defaults]`, `[[stations]]`,
`[[agencies]]`) are in `dfr.deployment_file`, `[tak]` in `dfr.tak_settings`; the
deployment built from them in `dfr.deployment`.
"""

from __future__ import annotations

from datetime import UTC, tzinfo
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dfr.eta import EtaParameters
from dfr.eta_calibration import CalibrationPolicy
from dfr.launch_policies import DailyHours, PolicyError
from dfr.web_origins import web_origin

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class StrictModel(BaseModel):
    """The base of every table of the deployment file: unknown keys are refused, values
    are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


#: A call type as CAD systems and the API name it: matched without regard to case.
CALL_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,39}$"
CallType = Annotated[str, Field(pattern=CALL_TYPE_PATTERN)]
Category = Annotated[str, Field(min_length=1, max_length=60)]


def call_type_key(call_type: str) -> str:
    """How call types are compared: trimmed, lower case ("Shots_Fired " → "shots_fired")."""
    return call_type.strip().lower()


class PublicLogSection(StrictModel):
    """The public flight log (`/transparency`): when flights appear and how coarse
    their tracks are."""

    #: A flight appears this many hours after it ended (0: at once).
    delay_h: Annotated[float, Field(ge=0, le=24 * 366, allow_inf_nan=False)] = 24.0
    #: Published tracks run through the centres of square cells this wide, never finer.
    track_grid_m: Annotated[float, Field(ge=50, le=5000, allow_inf_nan=False)] = 200.0
    #: IANA time zone of the published dates, times and months.
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_named(name)
        return name

    @property
    def zone(self) -> tzinfo:
        return zone_named(self.time_zone)


class PublicCategoriesSection(StrictModel):
    """Call types → the category the public flight log shows (never the call's text)."""

    default: Category = "Other call for service"  # for call types not listed
    call_types: dict[CallType, Category] = Field(default_factory=dict)

    @field_validator("call_types")
    @classmethod
    def _one_key_per_type(cls, mapping: dict[str, str]) -> dict[str, str]:
        keyed: dict[str, str] = {}
        for name, category in mapping.items():
            key = call_type_key(name)
            if key in keyed:
                raise ValueError(f"call type {name!r} is listed twice (case does not count)")
            keyed[key] = category
        return keyed


class RetentionSection(StrictModel):
    """How long dfr keeps what it records (`dfr retention run` and the server's daily job).

    A recording (the video file and its manifest) goes `recordings_days` after it ended;
    a sortie's flight records (its track points and the mission and fence as uploaded
    and read back) go `records_days` after its last event. The sortie itself, its
    timeline, its holds and every audit entry stay for good: they are small, they say
    that the flight happened, who sent it and why, and the audit chain must never lose
    an entry; the bulky, detailed records are what a retention schedule is about.
    Nothing held as evidence is deleted, and every deletion is audited with the
    deleted file's SHA-256.
    """

    recordings_days: Annotated[int, Field(ge=1, le=36500)] = 30
    records_days: Annotated[int, Field(ge=1, le=36500)] = 365


#: A call priority: 1 is the most urgent (the API's range).
CallPriority = Annotated[int, Field(strict=True, ge=1, le=5)]
IncidentType = Annotated[str, Field(min_length=1, max_length=100)]


class EidoSection(StrictModel):
    """EIDO intake (NENA-STA-021, `POST /api/eido` and the NENA-STA-024 subscriber):
    the priority a call gets from its incident's type, and the server to subscribe to."""

    #: The priority of an incident whose type is not listed (or that has none).
    default_priority: CallPriority = 3
    #: Incident type → priority. An incident's type is its `incidentTypeCommonRegistryText`,
    #: else its `incidentTypeInternalCode`; matched trimmed and without regard to case.
    priorities: dict[IncidentType, CallPriority] = Field(default_factory=dict)
    #: A CAD/EIDO server (NENA-STA-024 WebSocket, ws:// or wss://) to subscribe to for new
    #: incidents; none: no subscription. Its bearer token, if it wants one, is the
    #: environment's DFR_EIDO_SUBSCRIBE_TOKEN, never this file.
    subscribe_url: Annotated[str | None, Field(max_length=2000)] = None

    @field_validator("priorities")
    @classmethod
    def _one_key_per_type(cls, mapping: dict[str, int]) -> dict[str, int]:
        keyed: dict[str, int] = {}
        for name, priority in mapping.items():
            key = call_type_key(name)
            if not key:
                raise ValueError("an incident type cannot be blank")
            if key in keyed:
                raise ValueError(f"incident type {name!r} is listed twice (case does not count)")
            keyed[key] = priority
        return keyed

    @field_validator("subscribe_url")
    @classmethod
    def _websocket_url(cls, url: str | None) -> str | None:
        if url is None:
            return None
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError("must be a ws:// or wss:// URL with a host")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials (set DFR_EIDO_SUBSCRIBE_TOKEN)")
        return url

    def priority_for(self, *incident_types: str | None) -> int:
        """The priority of the first of `incident_types` listed; else the default."""
        for incident_type in incident_types:
            if incident_type is not None and call_type_key(incident_type) in self.priorities:
                return self.priorities[call_type_key(incident_type)]
        return self.default_priority


def zone_named(name: str) -> tzinfo:
    """The zone named `name` ("UTC" needs no time zone database). Raises ValueError."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


_ETA = EtaParameters()
_CALIBRATION = CalibrationPolicy()


class EtaSection(StrictModel):
    """The ETA model's figures (see dfr.eta) for drones not yet calibrated from their own
    flights; `dfr scenario` prints figures calibrated from its flights."""

    launch_latency_s: Annotated[float, Field(ge=0, le=120)] = _ETA.launch_latency_s
    takeoff_altitude_m: Annotated[float, Field(ge=0, le=120)] = _ETA.takeoff_altitude_m
    horizontal_accel_m_s2: Annotated[float, Field(gt=0, le=20)] = _ETA.horizontal_accel_m_s2
    arrival_settle_s: Annotated[float, Field(ge=0, le=60)] = _ETA.arrival_settle_s
    land_speed_m_s: Annotated[float, Field(gt=0, le=10)] = _ETA.land_speed_m_s
    #: A drone is ranked by figures fitted to its own flights once this many flew straight
    #: to their scene (see dfr.eta_calibration); until then by the figures above.
    calibrate_after_flights: Annotated[int, Field(ge=1, le=1000)] = _CALIBRATION.min_flights
    #: The last this many of a drone's flights are kept and fitted.
    calibration_flights_kept: Annotated[int, Field(ge=1, le=1000)] = _CALIBRATION.kept_flights

    @model_validator(mode="after")
    def _keeps_enough(self) -> EtaSection:
        if self.calibration_flights_kept < self.calibrate_after_flights:
            raise ValueError("calibration_flights_kept must be at least calibrate_after_flights")
        return self

    @property
    def parameters(self) -> EtaParameters:
        return EtaParameters(
            **self.model_dump(exclude={"calibrate_after_flights", "calibration_flights_kept"})
        )

    @property
    def calibration(self) -> CalibrationPolicy:
        return CalibrationPolicy(
            min_flights=self.calibrate_after_flights, kept_flights=self.calibration_flights_kept
        )


#: What a launch policy may name as a call's source (the API's, the EIDO intake's).
PolicySource = Literal["gunshot", "cad", "eido", "manual", "map", "officer"]
PolicyName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]
AgencyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")]


class LaunchPolicySection(StrictModel):
    """One `[[launch_policies]]` entry (see dfr.launch_policies): the calls it takes and
    what it does with them. Criteria left out take every call."""

    name: PolicyName
    sources: list[PolicySource] = Field(min_length=1)
    call_types: list[CallType] = Field(default_factory=list)
    min_confidence: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    min_rounds: Annotated[int, Field(strict=True, ge=1, le=1000)] | None = None
    max_priority: CallPriority | None = None
    #: A named airspace feature (kind area, no_fly or ceiling), or the policy's own polygon.
    zone: Annotated[str, Field(min_length=1)] | None = None
    polygon: (
        Annotated[list[tuple[Longitude, Latitude]], Field(min_length=3, max_length=1000)] | None
    ) = None
    #: Local time of day, HH:MM-HH:MM in the deployment's time zone; may cross midnight.
    hours: str | None = None
    mode: Literal["immediate", "pilot_confirm"] = "immediate"
    #: Only calls of this agency (`[[agencies]]`); none: every agency's.
    agency: AgencyId | None = None
    confirm_s: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 20.0
    on_timeout: Literal["launch", "expire"] = "expire"

    @field_validator("call_types")
    @classmethod
    def _keyed(cls, types: list[str]) -> list[str]:
        return [call_type_key(t) for t in types]

    @field_validator("hours")
    @classmethod
    def _daily(cls, hours: str | None) -> str | None:
        if hours is not None:
            try:
                DailyHours.parse(hours)
            except PolicyError as exc:
                raise ValueError(str(exc)) from None
        return hours

    @model_validator(mode="after")
    def _consistent(self) -> LaunchPolicySection:
        if self.zone is not None and self.polygon is not None:
            raise ValueError("give a zone or a polygon, not both")
        if self.mode == "immediate":
            given = {"confirm_s", "on_timeout"} & self.model_fields_set
            if given:
                raise ValueError(
                    f"{' and '.join(sorted(given))} apply to mode 'pilot_confirm' only"
                )
        return self


class AutoLaunchSection(StrictModel):
    """`[auto_launch]`: limits over every launch policy together."""

    #: Policy launches in flight at once (held for the pilot or flying); a call a
    #: policy takes beyond that is left for a dispatcher.
    max_concurrent: Annotated[int, Field(strict=True, ge=1, le=100)] = 1


class OfficerRequestsSection(StrictModel):
    """`[officer_requests]`: what an officer's "drone to me" must bring, and how closely
    the drone follows the officer on scene."""

    #: A position fix less sure than this (the phone's accuracy radius) is refused.
    max_accuracy_m: Annotated[float, Field(gt=0, le=5000, allow_inf_nan=False)] = 100.0
    #: An officer asks again at most this often (one open request at a time anyway).
    min_interval_s: Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)] = 30.0
    #: Follow me: the drone is repositioned at most this often...
    follow_interval_s: Annotated[float, Field(ge=1, le=600, allow_inf_nan=False)] = 5.0
    #: ...and only when the officer moved at least this far from its last target.
    follow_min_move_m: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = 10.0
    #: ...and never further than this from the request's first position.
    follow_max_from_scene_m: Annotated[float, Field(gt=0, le=20000, allow_inf_nan=False)] = 1500.0


class OverwatchSection(StrictModel):
    """`[overwatch]`: calls kept watched drone after drone until closed (`dfr.overwatch`).
    A call is kept so when flagged, or when its priority is listed here."""

    #: Calls of these priorities are kept under overwatch without being flagged.
    priorities: list[Annotated[int, Field(ge=1, le=9)]] = Field(default_factory=list, max_length=9)
    #: The relief is due on scene this long before the drone it relieves must leave.
    handover_s: Annotated[float, Field(ge=0, le=600, allow_inf_nan=False)] = 60.0
    #: The relief watches from this far from the scene, away from the other drone and its
    #: way home, so the two never share a point in the sky.
    separation_m: Annotated[float, Field(ge=10, le=300, allow_inf_nan=False)] = 40.0

    def covers(self, priority: int, flagged: bool) -> bool:
        return flagged or priority in self.priorities


class VideoSection(StrictModel):
    """`[video]`: who may play the drones' live video (WHEP) from pages on other servers.

    A player on another origin (an RTCC's or a neighbouring agency's own tool) asks the
    browser for CORS; dfr answers it only for the origins listed here, each as
    scheme://host[:port] ("https://rtcc.example.gov"): never `*`, no wildcards, no paths.
    The viewer still needs a token (a session's or a share link's) to watch.
    """

    cors_origins: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        written = [web_origin(text) for text in origins]
        for origin in written:
            if written.count(origin) > 1:
                raise ValueError(f"origin {origin!r} is listed twice")
        return written


class CamerasSection(StrictModel):
    """`[cameras]`: the fixed cameras shown beside the drones (see dfr.camera_file)."""

    #: The CSV file of cameras, relative to the deployment file.
    file: Annotated[str, Field(min_length=1, max_length=500)]
    #: How many covering cameras a call shows at most, nearest first.
    per_call: Annotated[int, Field(ge=1, le=16)] = 4
