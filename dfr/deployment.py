"""A deployment: a city's stations, drones and airspace, loaded from TOML + GeoJSON.

Errors::

    DeploymentError          (ValueError) a deployment that cannot be used; the
                             message names the file, the station or feature, and the field
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from shapely.geometry import shape as geojson_shape

from dfr.agencies import Agencies, Agency, AgencyError, Jurisdiction, MutualAid
from dfr.camera_file import CameraFileError, load_cameras
from dfr.camera_views import CAMERA_STREAM_PREFIX, camera_of_stream
from dfr.eta import EtaParameters
from dfr.eta_calibration import CalibrationPolicy
from dfr.launch_policies import (
    DailyHours,
    LaunchMode,
    LaunchPolicies,
    LaunchPolicy,
    OnTimeout,
    PolicyArea,
    PolicyError,
)
from dfr.web_origins import web_origin
from missions.airspace import Airspace, AirspaceError, parse_airspace
from missions.cameras import CameraRegistry
from missions.geo import GeoPoint, LocalFrame
from missions.mission_plan import FlightSettings, LinkLossAction
from missions.planner import PlannerSettings, RoutePlanner
from missions.profile import DroneProfile, Station

Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class DeploymentError(ValueError):
    """A deployment file that cannot be used."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeploymentSection(_Strict):
    name: str = Field(min_length=1)
    airspace: str = Field(min_length=1)
    launch_policy: Literal["immediate", "pilot_confirm"] = "immediate"
    tile_url: str | None = None
    #: IANA time zone of the deployment's local time (launch policies' hours).
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        zone_named(name)
        return name


class DefaultsSection(_Strict):
    cruise_alt_m: Positive = 60.0
    cruise_speed_m_s: Positive = 18.0
    on_scene_s: Annotated[float, Field(ge=0)] = 600.0
    reserve_pct: Annotated[float, Field(ge=0, lt=100)] = 25.0
    min_safe_alt_m: Positive = 30.0
    no_fly_buffer_m: Annotated[float, Field(ge=0)] = 100.0
    max_standoff_m: Positive = 1000.0
    #: What a drone does when it has not heard dfr for `link_loss_timeout_s` (PX4
    #: NAV_DLL_ACT and COM_DL_LOSS_T): fly home, hover where it is, or land there.
    link_loss_action: Literal["return", "hold", "land"] = "return"
    link_loss_timeout_s: Annotated[int, Field(ge=5, le=300)] = 30


#: A call type as CAD systems and the API name it: matched without regard to case.
CALL_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _./-]{0,39}$"
CallType = Annotated[str, Field(pattern=CALL_TYPE_PATTERN)]
Category = Annotated[str, Field(min_length=1, max_length=60)]


def call_type_key(call_type: str) -> str:
    """How call types are compared: trimmed, lower case ("Shots_Fired " → "shots_fired")."""
    return call_type.strip().lower()


class PublicLogSection(_Strict):
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


class PublicCategoriesSection(_Strict):
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


class RetentionSection(_Strict):
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


class EidoSection(_Strict):
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


class EtaSection(_Strict):
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


class AgencySection(_Strict):
    """One `[[agencies]]` entry (see dfr.agencies): an agency, its jurisdiction, its
    stations and the call sources that report to it."""

    id: AgencyId
    name: Annotated[str, Field(min_length=1, max_length=100)]
    #: A GeoJSON file (relative to the deployment file) holding one Polygon or
    #: MultiPolygon (a geometry, a Feature, or a FeatureCollection of one feature), or
    #: that geometry inline.
    jurisdiction: Annotated[str, Field(min_length=1, max_length=500)] | dict
    stations: list[Annotated[str, Field(min_length=1)]] = Field(default_factory=list)
    #: Call sources (cad, gunshot, eido) that report to this agency: a call of theirs
    #: outside every jurisdiction is this agency's.
    sources: list[PolicySource] = Field(default_factory=list)


MutualAidRule = Literal["always", "pilot_confirm", "never"]


class LaunchPolicySection(_Strict):
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


class AutoLaunchSection(_Strict):
    """`[auto_launch]`: limits over every launch policy together."""

    #: Policy launches in flight at once (held for the pilot or flying); a call a
    #: policy takes beyond that is left for a dispatcher.
    max_concurrent: Annotated[int, Field(strict=True, ge=1, le=100)] = 1


class OfficerRequestsSection(_Strict):
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


class OverwatchSection(_Strict):
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


#: How dfr reaches a TAK server (`[tak] url`), and its port when the URL names none.
TAK_SCHEMES = {"tls": 8089, "tcp": 8087, "udp": 6969}
UidPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class TakSection(_Strict):
    """`[tak]`: Cursor on Target out to a TAK Server, or to ATAK/WinTAK over UDP (see
    dfr.tak_out). Absent: nothing is sent."""

    #: tls://host:8089 (TAK Server with a client certificate), tcp://host:8087, or
    #: udp://239.2.3.1:6969 (ATAK's multicast picture; a unicast address works too).
    url: Annotated[str, Field(min_length=1, max_length=500)]
    #: The client certificate (PEM, or PKCS#12 `.p12` holding the key too), its key (PEM)
    #: and the CA that signed the TAK Server's certificate (PEM), for tls:// only; paths
    #: relative to the deployment file. A key's passphrase is the environment's
    #: DFR_TAK_KEY_PASSPHRASE, never this file.
    client_cert: Annotated[str, Field(min_length=1)] | None = None
    client_key: Annotated[str, Field(min_length=1)] | None = None
    ca_cert: Annotated[str, Field(min_length=1)] | None = None
    #: Drone tracks: at most this many per drone per second, each stale this long after.
    track_rate_hz: Annotated[float, Field(ge=0.1, le=10, allow_inf_nan=False)] = 1.0
    track_stale_s: Annotated[float, Field(ge=1, le=300, allow_inf_nan=False)] = 5.0
    #: Call markers and camera points of interest: stale this long after they were last
    #: sent (they are sent again well before, while the call is open).
    call_stale_s: Annotated[float, Field(ge=30, le=86400, allow_inf_nan=False)] = 600.0
    #: What every event's uid starts with (default: "dfr-" and the deployment's name).
    uid_prefix: UidPrefix | None = None
    #: Drone id → the RTSP URL of its video, sent as a `__video` element on its track.
    video_rtsp: dict[str, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    #: The geoid's height above the WGS84 ellipsoid where the drones fly (EGM96's N, in
    #: metres; around -20 over Colorado, -30 over the East Coast): CoT's `hae` is
    #: height above the ellipsoid, the vehicles report height above mean sea level, and
    #: hae = AMSL + N. Across one city N varies by a metre or two at most.
    geoid_height_m: Annotated[float, Field(ge=-110, le=90, allow_inf_nan=False)] = 0.0

    @field_validator("url")
    @classmethod
    def _tak_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in TAK_SCHEMES:
            raise ValueError("must be a tls://, tcp:// or udp:// URL (host:port)")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials")
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be scheme://host:port and nothing more")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ValueError("has a port that is not 0..65535") from None
        return url

    @field_validator("video_rtsp")
    @classmethod
    def _rtsp_urls(cls, mapping: dict[str, str]) -> dict[str, str]:
        for drone_id, url in mapping.items():
            parts = urlsplit(url)
            if parts.scheme != "rtsp" or not parts.hostname:
                raise ValueError(f"{drone_id!r}: must be an rtsp:// URL with a host")
            if parts.username or parts.password:
                raise ValueError(f"{drone_id!r}: must not carry credentials (TAK clients see it)")
            try:
                parts.port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError:
                raise ValueError(f"{drone_id!r}: has a port that is not 0..65535") from None
        return mapping

    @model_validator(mode="after")
    def _consistent(self) -> TakSection:
        scheme = urlsplit(self.url).scheme
        files = {"client_cert", "client_key", "ca_cert"} & self.model_fields_set
        if scheme != "tls" and files:
            raise ValueError(f"{' and '.join(sorted(files))} apply to tls:// only")
        if scheme == "tls":
            if self.client_cert is None:
                raise ValueError("tls:// needs client_cert (the TAK Server's client certificate)")
            if self.client_key is None and not self.client_cert.lower().endswith(".p12"):
                raise ValueError("tls:// needs client_key, unless client_cert is a .p12")
            if self.ca_cert is None:
                raise ValueError("tls:// needs ca_cert (the CA of the TAK Server's certificate)")
        if self.track_stale_s * self.track_rate_hz < 1:
            raise ValueError(
                f"track_stale_s ({self.track_stale_s:g}) is shorter than the time between "
                f"tracks (1/track_rate_hz = {1 / self.track_rate_hz:g} s)"
            )
        return self


@dataclass(frozen=True)
class TakSettings:
    """Where and what dfr sends as Cursor on Target (`[tak]`, see dfr.tak_out); its files
    resolved against the deployment file, its drones known to the deployment."""

    url: str
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_cert: Path | None = None
    track_rate_hz: float = 1.0
    track_stale_s: float = 5.0
    call_stale_s: float = 600.0
    uid_prefix: str = "dfr"
    video_rtsp: Mapping[str, str] = field(default_factory=dict)
    geoid_height_m: float = 0.0

    @property
    def scheme(self) -> str:
        """tls, tcp or udp."""
        return urlsplit(self.url).scheme

    @property
    def address(self) -> str:
        """host:port (the scheme's usual port when the URL names none)."""
        parts = urlsplit(self.url)
        port = parts.port or TAK_SCHEMES[parts.scheme]
        host = parts.hostname or ""
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def describe(self) -> str:
        """One line for `dfr check` and the logs."""
        what = f"{self.scheme}://{self.address}"
        if self.scheme == "tls":
            key = f", key {self.client_key.name}" if self.client_key is not None else ""
            ca = self.ca_cert.name if self.ca_cert is not None else "?"
            cert = self.client_cert.name if self.client_cert is not None else "?"
            what += f" (client certificate {cert}{key}, CA {ca})"
        video = ", ".join(sorted(self.video_rtsp)) or "none"
        return (
            f"{what}; tracks {self.track_rate_hz:g} Hz, stale {self.track_stale_s:g} s; "
            f"calls stale {self.call_stale_s:g} s; uids {self.uid_prefix}.*; video of: {video}"
        )


class VideoSection(_Strict):
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


class CamerasSection(_Strict):
    """`[cameras]`: the fixed cameras shown beside the drones (see dfr.camera_file)."""

    #: The CSV file of cameras, relative to the deployment file.
    file: Annotated[str, Field(min_length=1, max_length=500)]
    #: How many covering cameras a call shows at most, nearest first.
    per_call: Annotated[int, Field(ge=1, le=16)] = 4


class DroneSection(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    mavlink: str = Field(min_length=1)
    max_speed_m_s: Positive = 20.0
    cruise_speed_m_s: Positive | None = None
    climb_m_s: Positive = 5.0
    descent_m_s: Positive = 3.0
    accel_m_s2: Positive = 3.0
    endurance_s: Positive = 2400.0
    video: str | None = None


class StationSection(_Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1)
    lat: Latitude
    lon: Longitude
    alt_m: float = Field(ge=-500, le=9000)
    drone: DroneSection


class DeploymentFile(_Strict):
    deployment: DeploymentSection
    defaults: DefaultsSection = DefaultsSection()
    eta: EtaSection = EtaSection()
    public_log: PublicLogSection = PublicLogSection()
    public_categories: PublicCategoriesSection = PublicCategoriesSection()
    retention: RetentionSection = RetentionSection()
    eido: EidoSection = EidoSection()
    auto_launch: AutoLaunchSection = AutoLaunchSection()
    officer_requests: OfficerRequestsSection = OfficerRequestsSection()
    overwatch: OverwatchSection = OverwatchSection()
    tak: TakSection | None = None
    video: VideoSection = VideoSection()
    cameras: CamerasSection | None = None
    launch_policies: list[LaunchPolicySection] = Field(default_factory=list, max_length=100)
    stations: list[StationSection] = Field(min_length=1)
    agencies: list[AgencySection] = Field(default_factory=list, max_length=50)
    #: `[mutual_aid.<owner>] <other> = "always" | "pilot_confirm" | "never"`: may the
    #: owner's drones fly into the other's jurisdiction (a pair not listed: never).
    mutual_aid: dict[AgencyId, dict[AgencyId, MutualAidRule]] = Field(default_factory=dict)

    @field_validator("launch_policies")
    @classmethod
    def _unique_policy_names(cls, policies: list[LaunchPolicySection]) -> list[LaunchPolicySection]:
        seen: set[str] = set()
        for policy in policies:
            if policy.name in seen:
                raise ValueError(f"duplicate launch policy name {policy.name!r}")
            seen.add(policy.name)
        return policies

    @field_validator("stations")
    @classmethod
    def _unique_ids(cls, stations: list[StationSection]) -> list[StationSection]:
        for attr, what in ((lambda s: s.id, "station id"), (lambda s: s.drone.id, "drone id")):
            seen: set[str] = set()
            for s in stations:
                key = attr(s)
                if key in seen:
                    raise ValueError(f"duplicate {what} {key!r}")
                seen.add(key)
        return stations


@dataclass(frozen=True)
class Deployment:
    """A validated deployment, with its airspace projected and its planner built."""

    name: str
    source: Path
    stations: tuple[Station, ...]
    airspace: Airspace
    planner: RoutePlanner
    defaults: DefaultsSection
    launch_policy: str
    tile_url: str | None
    eta: EtaParameters = EtaParameters()
    #: How each drone's own figures follow its flights (`[eta]` calibrate_after_flights...).
    eta_calibration: CalibrationPolicy = CalibrationPolicy()
    #: What `dfr check` warns about: deprecated keys, with what to write instead.
    warnings: tuple[str, ...] = ()
    #: The files it was loaded from (the TOML and its airspace), for evidence hashes.
    files: tuple[Path, ...] = ()
    public_log: PublicLogSection = PublicLogSection()
    public_categories: PublicCategoriesSection = PublicCategoriesSection()
    retention: RetentionSection = RetentionSection()
    eido: EidoSection = EidoSection()
    #: The calls a drone flies to without a click (`[[launch_policies]]`, `[auto_launch]`).
    launch_policies: LaunchPolicies = LaunchPolicies()
    #: Officers' "drone to me": the fix it needs, how the drone follows them.
    officer_requests: OfficerRequestsSection = OfficerRequestsSection()
    #: Calls kept watched drone after drone until closed.
    overwatch: OverwatchSection = OverwatchSection()
    #: The deployment's local time (`[deployment] time_zone`).
    time_zone: tzinfo = UTC
    #: Cursor on Target out to a TAK server (`[tak]`); None: nothing is sent.
    tak: TakSettings | None = None
    #: Live video for other origins' players (`[video] cors_origins`).
    video: VideoSection = VideoSection()
    #: The fixed cameras (`[cameras] file`), indexed for "which see this scene".
    cameras: CameraRegistry = field(default_factory=CameraRegistry)
    #: How many covering cameras a call shows at most.
    cameras_per_call: int = 4
    #: The agencies and their mutual aid (`[[agencies]]`, `[mutual_aid]`); empty: one
    #: implicit agency holding everything.
    agencies: Agencies = Agencies()

    def public_category(self, call_type: str | None) -> str:
        """The public flight log's category for a call of `call_type` (the default
        category for a type not listed, or none)."""
        mapping = self.public_categories.call_types
        if call_type is None:
            return self.public_categories.default
        return mapping.get(call_type_key(call_type), self.public_categories.default)

    @property
    def flight_settings(self) -> FlightSettings:
        """The PX4 behaviour every drone of the deployment gets (dock preparation and
        each sortie alike)."""
        action = {
            "return": LinkLossAction.RETURN,
            "hold": LinkLossAction.HOLD,
            "land": LinkLossAction.LAND,
        }[self.defaults.link_loss_action]
        return FlightSettings(
            link_loss_action=action, link_loss_timeout_s=self.defaults.link_loss_timeout_s
        )

    def station(self, station_id: str) -> Station:
        for s in self.stations:
            if s.id == station_id:
                return s
        raise KeyError(station_id)


#: Keys whose unit read as milliseconds; they still load, with a warning.
DEPRECATED_KEYS = {
    "max_speed_ms": "max_speed_m_s",
    "cruise_speed_ms": "cruise_speed_m_s",
    "climb_ms": "climb_m_s",
    "descent_ms": "descent_m_s",
    "accel_ms2": "accel_m_s2",
}


def _modernise(path: Path, raw: dict) -> list[str]:
    """Rename deprecated keys in place; returns one warning per key renamed.

    Raises DeploymentError when a table has both the old and the new key.
    """
    tables: list[tuple[str, object]] = [("defaults", raw.get("defaults"))]
    for i, station in enumerate(raw.get("stations") or []):
        if isinstance(station, dict):
            name = station.get("id") or f"#{i + 1}"
            tables.append((f"station {name!r}: drone", station.get("drone")))
    warnings = []
    for where, table in tables:
        if not isinstance(table, dict):
            continue
        for old, new in DEPRECATED_KEYS.items():
            if old not in table:
                continue
            if new in table:
                raise DeploymentError(f"{path}: {where}: both {old!r} and {new!r}; keep {new!r}")
            table[new] = table.pop(old)
            warnings.append(
                f"{path}: {where}: key {old!r} is deprecated (it reads as milliseconds); "
                f"write {new!r} (metres per second)"
            )
    return warnings


def builtin_deployment_path() -> Path:
    """The Pueblo three-station deployment shipped with dfr."""
    return Path(str(resources.files("dfr") / "data" / "pueblo" / "pueblo.toml"))


def load_deployment(path: Path | str | None = None) -> Deployment:
    """Load and validate a deployment (the built-in Pueblo one when `path` is None).

    Raises DeploymentError naming the file, station/feature and field.
    """
    path = Path(path) if path is not None else builtin_deployment_path()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise DeploymentError(f"{path}: cannot read deployment file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise DeploymentError(f"{path}: not valid TOML: {exc}") from exc
    warnings = _modernise(path, raw)
    try:
        spec = DeploymentFile.model_validate(raw)
    except ValidationError as exc:
        raise DeploymentError(_explain(path, raw, exc)) from exc
    return replace(build_deployment(spec, path), warnings=tuple(warnings))


def _read_json(file: Path, field: str) -> Any:
    """The JSON in `file`, named by the deployment `field` that points at it. Raises
    DeploymentError saying which file could not be read, or is not JSON."""
    try:
        return json.loads(file.read_text())
    except OSError as exc:
        raise DeploymentError(f"{field}: cannot read {file.name}: {exc.strerror}") from exc
    except ValueError as exc:
        raise DeploymentError(f"{file}: not valid JSON: {exc}") from exc


def build_deployment(spec: DeploymentFile, path: Path) -> Deployment:
    """Turn a validated file into a Deployment: load the airspace, check the stations."""
    airspace_path = (path.parent / spec.deployment.airspace).resolve()
    d = spec.defaults
    data = _read_json(airspace_path, f"{path}: field 'deployment.airspace'")
    first = spec.stations[0]
    frame = LocalFrame(GeoPoint(first.lat, first.lon))
    try:
        airspace = parse_airspace(
            data, source=str(airspace_path), frame=frame, default_buffer_m=d.no_fly_buffer_m
        )
    except AirspaceError as exc:
        raise DeploymentError(str(exc)) from exc

    planner = RoutePlanner(
        airspace,
        PlannerSettings(
            cruise_altitude_m=d.cruise_alt_m,
            min_safe_altitude_m=d.min_safe_alt_m,
            max_standoff_m=d.max_standoff_m,
        ),
    )
    stations = []
    for s in spec.stations:
        where = f"{path}: station {s.id!r}"
        point = GeoPoint(s.lat, s.lon)
        if not airspace.contains(point):
            raise DeploymentError(f"{where}: fields 'lat'/'lon' are outside the operational area")
        zone = airspace.no_fly_zone_at(point)
        if zone is not None:
            raise DeploymentError(
                f"{where}: fields 'lat'/'lon' are inside no-fly zone {zone.name!r}"
            )
        refusal = planner.refusal(point)
        if refusal is not None:
            raise DeploymentError(f"{where}: fields 'lat'/'lon' are {refusal}")
        cruise = s.drone.cruise_speed_m_s or min(d.cruise_speed_m_s, s.drone.max_speed_m_s)
        if cruise > s.drone.max_speed_m_s:
            raise DeploymentError(
                f"{where}: field 'drone.cruise_speed_m_s' ({cruise:g}) exceeds "
                "'drone.max_speed_m_s'"
            )
        profile = DroneProfile(
            id=s.drone.id,
            mavlink=s.drone.mavlink,
            max_speed_m_s=s.drone.max_speed_m_s,
            cruise_speed_m_s=cruise,
            climb_m_s=s.drone.climb_m_s,
            descent_m_s=s.drone.descent_m_s,
            acceleration_m_s2=s.drone.accel_m_s2,
            endurance_s=s.drone.endurance_s,
            video_url=s.drone.video,
        )
        stations.append(Station(s.id, s.name, point, s.alt_m, profile))
    time_zone = zone_named(spec.deployment.time_zone)
    cameras = CameraRegistry()
    camera_files: tuple[Path, ...] = ()
    if spec.cameras is not None:
        taken = [s.drone.id for s in spec.stations if camera_of_stream(s.drone.id) is not None]
        if taken:
            raise DeploymentError(
                f"{path}: drone id {taken[0]!r}: ids starting {CAMERA_STREAM_PREFIX!r} name "
                "the fixed cameras' streams; rename the drone"
            )
        cameras, camera_file = _cameras(path, spec, airspace.frame)
        camera_files = (camera_file,)
    agencies, agency_files = _agencies(path, spec, airspace.frame)
    policies = LaunchPolicies(
        tuple(_policy(path, airspace, p, agencies) for p in spec.launch_policies),
        spec.auto_launch.max_concurrent,
        time_zone,
    )
    return Deployment(
        name=spec.deployment.name,
        source=path,
        stations=tuple(stations),
        airspace=airspace,
        planner=planner,
        defaults=d,
        launch_policy=spec.deployment.launch_policy,
        tile_url=spec.deployment.tile_url,
        eta=spec.eta.parameters,
        eta_calibration=spec.eta.calibration,
        files=(path, airspace_path, *camera_files, *agency_files),
        public_log=spec.public_log,
        public_categories=spec.public_categories,
        retention=spec.retention,
        eido=spec.eido,
        officer_requests=spec.officer_requests,
        overwatch=spec.overwatch,
        launch_policies=policies,
        time_zone=time_zone,
        tak=_tak(path, spec) if spec.tak is not None else None,
        video=spec.video,
        cameras=cameras,
        cameras_per_call=spec.cameras.per_call if spec.cameras is not None else 4,
        agencies=agencies,
    )


def _agencies(
    path: Path, spec: DeploymentFile, frame: LocalFrame
) -> tuple[Agencies, tuple[Path, ...]]:
    """`[[agencies]]` and `[mutual_aid]` checked against the stations and each other: every
    station in exactly one agency, no two jurisdictions overlapping, each source reporting
    to one agency, rules naming known agencies. Raises DeploymentError naming the field."""
    if not spec.agencies:
        if spec.mutual_aid:
            raise DeploymentError(f"{path}: field 'mutual_aid': there are no [[agencies]]")
        return Agencies(), ()
    station_ids = [s.id for s in spec.stations]
    holder: dict[str, str] = {}
    reporter: dict[str, str] = {}
    agencies: list[Agency] = []
    files: list[Path] = []
    for entry in spec.agencies:
        where = f"{path}: agency {entry.id!r}"
        if entry.id in (a.id for a in agencies):
            raise DeploymentError(f"{where}: duplicate agency id")
        for station_id in entry.stations:
            if station_id not in station_ids:
                raise DeploymentError(
                    f"{where}: field 'stations': no station {station_id!r} in this deployment"
                )
            if station_id in holder:
                raise DeploymentError(
                    f"{where}: field 'stations': station {station_id!r} is already "
                    f"agency {holder[station_id]!r}'s"
                )
            holder[station_id] = entry.id
        for source in entry.sources:
            if source in reporter:
                raise DeploymentError(
                    f"{where}: field 'sources': source {source!r} already reports to "
                    f"agency {reporter[source]!r}"
                )
            reporter[source] = entry.id
        jurisdiction, file = _jurisdiction(where, path, entry.jurisdiction, frame)
        files += [file] if file is not None else []
        for other in agencies:
            assert other.jurisdiction is not None
            if jurisdiction.overlaps(other.jurisdiction):
                raise DeploymentError(
                    f"{where}: field 'jurisdiction' overlaps agency {other.id!r}'s: "
                    "a place has one agency"
                )
        agencies.append(
            Agency(
                entry.id,
                entry.name,
                jurisdiction,
                frozenset(entry.stations),
                frozenset(entry.sources),
            )
        )
    orphans = [s for s in station_ids if s not in holder]
    if orphans:
        raise DeploymentError(
            f"{path}: station {orphans[0]!r} belongs to no agency: list it in one "
            "[[agencies]] entry's stations"
        )
    ids = {a.id for a in agencies}
    rules: dict[tuple[str, str], MutualAid] = {}
    for owner, others in spec.mutual_aid.items():
        if owner not in ids:
            raise DeploymentError(f"{path}: field 'mutual_aid.{owner}': no agency {owner!r}")
        for other, rule in others.items():
            if other not in ids:
                raise DeploymentError(
                    f"{path}: field 'mutual_aid.{owner}.{other}': no agency {other!r}"
                )
            if other == owner:
                raise DeploymentError(
                    f"{path}: field 'mutual_aid.{owner}.{other}': an agency always flies "
                    "in its own jurisdiction"
                )
            rules[(owner, other)] = MutualAid(rule)
    return Agencies(tuple(agencies), rules), tuple(files)


def _jurisdiction(
    where: str, path: Path, given: str | dict, frame: LocalFrame
) -> tuple[Jurisdiction, Path | None]:
    """An agency's jurisdiction: a GeoJSON file next to the deployment, or inline."""
    file = None
    data: object = given
    if isinstance(given, str):
        file = (path.parent / given).resolve()
        data = _read_json(file, f"{where}: field 'jurisdiction'")
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list) or len(features) != 1:
            raise DeploymentError(
                f"{where}: field 'jurisdiction': a FeatureCollection must hold one feature"
            )
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    try:
        if not isinstance(data, dict):
            raise AgencyError("is not a GeoJSON geometry")
        return Jurisdiction.from_lonlat(geojson_shape(data), frame), file
    except AgencyError as exc:
        raise DeploymentError(f"{where}: field 'jurisdiction' {exc}") from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        raise DeploymentError(
            f"{where}: field 'jurisdiction' is not a GeoJSON Polygon or MultiPolygon"
        ) from None


def _cameras(path: Path, spec: DeploymentFile, frame: LocalFrame) -> tuple[CameraRegistry, Path]:
    """The cameras of `[cameras] file`, found next to the deployment file."""
    assert spec.cameras is not None
    file = (path.parent / spec.cameras.file).resolve()
    try:
        return load_cameras(file, frame), file
    except CameraFileError as exc:
        raise DeploymentError(f"{path}: field 'cameras.file': {exc}") from exc


def _tak(path: Path, spec: DeploymentFile) -> TakSettings:
    """`[tak]` with its files found next to the deployment file and its video map's drones
    known. Raises DeploymentError naming the field."""
    tak = spec.tak
    assert tak is not None
    drones = [s.drone.id for s in spec.stations]
    for drone_id in tak.video_rtsp:
        if drone_id not in drones:
            raise DeploymentError(
                f"{path}: field 'tak.video_rtsp': no drone {drone_id!r} in this deployment "
                f"(its drones: {', '.join(repr(d) for d in drones)})"
            )

    def existing(name: str, value: str | None) -> Path | None:
        if value is None:
            return None
        file = (path.parent / value).resolve()
        if not file.is_file():
            raise DeploymentError(f"{path}: field 'tak.{name}': no file {str(file)!r}")
        return file

    return TakSettings(
        url=tak.url,
        client_cert=existing("client_cert", tak.client_cert),
        client_key=existing("client_key", tak.client_key),
        ca_cert=existing("ca_cert", tak.ca_cert),
        track_rate_hz=tak.track_rate_hz,
        track_stale_s=tak.track_stale_s,
        call_stale_s=tak.call_stale_s,
        uid_prefix=tak.uid_prefix or default_uid_prefix(spec.deployment.name),
        video_rtsp=dict(tak.video_rtsp),
        geoid_height_m=tak.geoid_height_m,
    )


def default_uid_prefix(deployment_name: str) -> str:
    """The default uid prefix: `dfr-` and the deployment's name in lower case, its words
    joined by `-`.

    >>> default_uid_prefix("Pueblo Police Department")
    'dfr-pueblo-police-department'
    """
    words = re.findall(r"[a-z0-9]+", deployment_name.lower())
    return "-".join(["dfr", *words])[:64]


def _policy(
    path: Path, airspace: Airspace, p: LaunchPolicySection, agencies: Agencies
) -> LaunchPolicy:
    """A launch policy with its area found in the airspace (or made of its polygon).
    Raises DeploymentError naming the policy and the field."""
    where = f"{path}: launch policy {p.name!r}"
    if p.agency is not None and p.agency not in agencies.ids:
        raise DeploymentError(
            f"{where}: field 'agency': no agency {p.agency!r}"
            f" (agencies: {', '.join(repr(a) for a in agencies.ids) or 'none'})"
        )
    area = None
    if p.zone is not None:
        zones = airspace.zones_named(p.zone)
        if not zones:
            named = sorted(
                {z.name for z in (*airspace.areas, *airspace.no_fly, *airspace.ceilings)}
            )
            raise DeploymentError(
                f"{where}: field 'zone': no airspace feature is named {p.zone!r}"
                f" (named: {', '.join(repr(n) for n in named) or 'none'})"
            )
        if len(zones) > 1:
            raise DeploymentError(
                f"{where}: field 'zone': {len(zones)} airspace features are named {p.zone!r}"
            )
        area = PolicyArea(p.zone, airspace.frame, zones[0].shape_local)
    elif p.polygon is not None:
        try:
            area = PolicyArea.from_lonlat(f"policy {p.name}'s polygon", p.polygon, airspace.frame)
        except PolicyError as exc:
            raise DeploymentError(f"{where}: field 'polygon': {exc}") from None
    return LaunchPolicy(
        name=p.name,
        sources=frozenset(p.sources),
        call_types=frozenset(p.call_types),
        min_confidence=p.min_confidence,
        min_rounds=p.min_rounds,
        max_priority=p.max_priority,
        area=area,
        hours=DailyHours.parse(p.hours) if p.hours is not None else None,
        mode=LaunchMode(p.mode),
        confirm_s=p.confirm_s,
        on_timeout=OnTimeout(p.on_timeout),
        agency=p.agency,
    )


def _explain(path: Path, raw: dict, exc: ValidationError) -> str:
    """First pydantic error as 'FILE: station 'hq': field 'drone.max_speed_m_s': message'."""
    err = exc.errors()[0]
    loc = list(err["loc"])
    where = str(path)
    if len(loc) >= 2 and loc[0] == "stations" and isinstance(loc[1], int):
        stations = raw.get("stations") or []
        sid = stations[loc[1]].get("id") if loc[1] < len(stations) else None
        where += f": station {sid!r}" if sid else f": station #{loc[1] + 1}"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "agencies" and isinstance(loc[1], int):
        entries = raw.get("agencies") or []
        entry = entries[loc[1]] if loc[1] < len(entries) else None
        name = entry.get("id") if isinstance(entry, dict) else None
        where += f": agency {name!r}" if isinstance(name, str) else f": agency #{loc[1] + 1}"
        loc = loc[2:]
    elif len(loc) >= 2 and loc[0] == "launch_policies" and isinstance(loc[1], int):
        policies = raw.get("launch_policies") or []
        entry = policies[loc[1]] if loc[1] < len(policies) else None
        name = entry.get("name") if isinstance(entry, dict) else None
        where += (
            f": launch policy {name!r}"
            if isinstance(name, str)
            else f": launch policy #{loc[1] + 1}"
        )
        loc = loc[2:]
    field = ".".join(str(p) for p in loc)
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    return f"{where}: field {field!r}: {msg}" if field else f"{where}: {msg}"
