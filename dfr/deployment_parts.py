"""The parts of a deployment built from its file's sections, each checked against the
rest of the deployment: the agencies and their jurisdictions, the fixed cameras, the TAK
settings and the launch policies. Each raises DeploymentError naming the file and the
field; `dfr.deployment` puts them together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shapely.geometry import shape as geojson_shape

from dfr.agencies import Agencies, Agency, AgencyError, Jurisdiction, MutualAid
from dfr.camera_file import CameraFileError, load_cameras
from dfr.deployment_file import DeploymentError, DeploymentFile
from dfr.deployment_sections import LaunchPolicySection
from dfr.launch_policies import (
    DailyHours,
    LaunchMode,
    LaunchPolicy,
    OnTimeout,
    PolicyArea,
    PolicyError,
)
from dfr.tak_settings import TakSettings, default_uid_prefix
from missions.airspace import Airspace
from missions.cameras import CameraRegistry
from missions.geo import LocalFrame


def read_json(file: Path, field: str) -> Any:
    """The JSON in `file`, named by the deployment `field` that points at it. Raises
    DeploymentError saying which file could not be read, or is not JSON."""
    try:
        return json.loads(file.read_text())
    except OSError as exc:
        raise DeploymentError(f"{field}: cannot read {file.name}: {exc.strerror}") from exc
    except ValueError as exc:
        raise DeploymentError(f"{file}: not valid JSON: {exc}") from exc


def build_agencies(
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
        for neighbour in agencies:
            assert neighbour.jurisdiction is not None
            if jurisdiction.overlaps(neighbour.jurisdiction):
                raise DeploymentError(
                    f"{where}: field 'jurisdiction' overlaps agency {neighbour.id!r}'s: "
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
        data = read_json(file, f"{where}: field 'jurisdiction'")
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


def build_cameras(
    path: Path, spec: DeploymentFile, frame: LocalFrame
) -> tuple[CameraRegistry, Path]:
    """The cameras of `[cameras] file`, found next to the deployment file."""
    assert spec.cameras is not None
    file = (path.parent / spec.cameras.file).resolve()
    try:
        return load_cameras(file, frame), file
    except CameraFileError as exc:
        raise DeploymentError(f"{path}: field 'cameras.file': {exc}") from exc


def build_tak(path: Path, spec: DeploymentFile) -> TakSettings:
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


def build_policy(
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
