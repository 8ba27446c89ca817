"""A deployment: a city's stations, drones and airspace, loaded from TOML + GeoJSON.

`load_deployment` reads the TOML, renames its deprecated keys and validates it against
the file's schema (`dfr.deployment_file`, with the operational sections in
`dfr.deployment_sections` and `[tak]` in `dfr.tak_settings`); `build_deployment` loads
the airspace, checks the stations and puts the parts built from the other sections
(`dfr.deployment_parts`) into a `Deployment`. The schema's names are re-exported here.

Errors::

    DeploymentError          (ValueError) a deployment that cannot be used; the
                             message names the file, the station or feature, and the field
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo
from importlib import resources
from pathlib import Path

from pydantic import ValidationError

from dfr.agencies import Agencies
from dfr.camera_views import CAMERA_STREAM_PREFIX, camera_of_stream
from dfr.deployment_file import (
    AgencySection,
    DefaultsSection,
    DeploymentError,
    DeploymentFile,
    DeploymentSection,
    DroneSection,
    StationSection,
)
from dfr.deployment_parts import (
    build_agencies,
    build_cameras,
    build_policy,
    build_tak,
    read_json,
)
from dfr.deployment_sections import (
    CALL_TYPE_PATTERN,
    AutoLaunchSection,
    CamerasSection,
    EidoSection,
    EtaSection,
    LaunchPolicySection,
    OfficerRequestsSection,
    OverwatchSection,
    PublicCategoriesSection,
    PublicLogSection,
    RetentionSection,
    StrictModel,
    VideoSection,
    call_type_key,
    zone_named,
)
from dfr.eta import EtaParameters
from dfr.eta_calibration import CalibrationPolicy
from dfr.launch_policies import LaunchPolicies
from dfr.tak_settings import TAK_SCHEMES, TakSection, TakSettings, default_uid_prefix
from missions.airspace import Airspace, AirspaceError, parse_airspace
from missions.cameras import CameraRegistry
from missions.geo import GeoPoint, LocalFrame
from missions.mission_plan import FlightSettings, LinkLossAction
from missions.planner import PlannerSettings, RoutePlanner
from missions.profile import DroneProfile, Station

__all__ = [
    "CALL_TYPE_PATTERN",
    "DEPRECATED_KEYS",
    "TAK_SCHEMES",
    "AgencySection",
    "AutoLaunchSection",
    "CamerasSection",
    "DefaultsSection",
    "Deployment",
    "DeploymentError",
    "DeploymentFile",
    "DeploymentSection",
    "DroneSection",
    "EidoSection",
    "EtaSection",
    "LaunchPolicySection",
    "OfficerRequestsSection",
    "OverwatchSection",
    "PublicCategoriesSection",
    "PublicLogSection",
    "RetentionSection",
    "StationSection",
    "StrictModel",
    "TakSection",
    "TakSettings",
    "VideoSection",
    "build_deployment",
    "builtin_deployment_path",
    "call_type_key",
    "default_uid_prefix",
    "load_deployment",
    "zone_named",
]


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


def build_deployment(spec: DeploymentFile, path: Path) -> Deployment:
    """Turn a validated file into a Deployment: load the airspace, check the stations."""
    airspace_path = (path.parent / spec.deployment.airspace).resolve()
    d = spec.defaults
    data = read_json(airspace_path, f"{path}: field 'deployment.airspace'")
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
        cameras, camera_file = build_cameras(path, spec, airspace.frame)
        camera_files = (camera_file,)
    agencies, agency_files = build_agencies(path, spec, airspace.frame)
    policies = LaunchPolicies(
        tuple(build_policy(path, airspace, p, agencies) for p in spec.launch_policies),
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
        tak=build_tak(path, spec) if spec.tak is not None else None,
        video=spec.video,
        cameras=cameras,
        cameras_per_call=spec.cameras.per_call if spec.cameras is not None else 4,
        agencies=agencies,
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
