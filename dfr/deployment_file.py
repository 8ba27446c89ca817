"""The deployment file: the schema of its TOML, with its core sections (`[deployment]`,
`[defaults]`, `[[stations]]` and their drones, `[[agencies]]`, `[mutual_aid]`), and the
error a deployment that cannot be used raises.

The operational sections are in `dfr.deployment_sections`, `[tak]` in
`dfr.tak_settings`; reading the file and building the deployment, in `dfr.deployment`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dfr.deployment_sections import (
    AgencyId,
    AutoLaunchSection,
    CamerasSection,
    EidoSection,
    EtaSection,
    Latitude,
    LaunchPolicySection,
    Longitude,
    OfficerRequestsSection,
    OverwatchSection,
    PolicySource,
    Positive,
    PublicCategoriesSection,
    PublicLogSection,
    RetentionSection,
    StrictModel,
    VideoSection,
    zone_named,
)
from dfr.tak_settings import TakSection


class DeploymentError(ValueError):
    """A deployment file that cannot be used."""


class DeploymentSection(StrictModel):
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


class DefaultsSection(StrictModel):
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


class AgencySection(StrictModel):
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


class DroneSection(StrictModel):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    mavlink: str = Field(min_length=1)
    max_speed_m_s: Positive = 20.0
    cruise_speed_m_s: Positive | None = None
    climb_m_s: Positive = 5.0
    descent_m_s: Positive = 3.0
    accel_m_s2: Positive = 3.0
    endurance_s: Positive = 2400.0
    video: str | None = None


class StationSection(StrictModel):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1)
    lat: Latitude
    lon: Longitude
    alt_m: float = Field(ge=-500, le=9000)
    drone: DroneSection


class DeploymentFile(StrictModel):
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
