"""Agencies and mutual aid: whose a call, a station and a record are, and who may see them.

Pure (no I/O). A deployment holds one or more agencies (`[[agencies]]`, see
dfr.deployment), each with its jurisdiction, its stations and the call sources that
report to it. A deployment without agencies is one implicit agency holding everything:
its calls and stations belong to no named agency (`None`) and every user sees them.

Mutual aid says, for an ordered pair (owner, other), whether the owner's drones may fly
into the other's jurisdiction: `always`, with the owner's pilot confirming
(`pilot_confirm`), or `never` (also when the pair is not listed).

>>> from shapely.geometry import box
>>> frame = LocalFrame(GeoPoint(35.0, -106.6))
>>> city = Agency("apd", "City PD", Jurisdiction.from_lonlat(
...     box(-106.7, 35.0, -106.5, 35.2), frame), frozenset({"downtown"}))
>>> county = Agency("bcso", "County SO", None, frozenset({"east"}))
>>> book = Agencies((city, county), {("bcso", "apd"): MutualAid.ALWAYS})
>>> book.agency_at(GeoPoint(35.1, -106.6)), book.agency_at(GeoPoint(34.0, -106.6), "bcso")
('apd', 'bcso')
>>> book.rule("bcso", "apd"), book.rule("apd", "bcso"), book.rule("apd", "apd")
(<MutualAid.ALWAYS: 'always'>, <MutualAid.NEVER: 'never'>, <MutualAid.ALWAYS: 'always'>)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from missions.geo import GeoPoint, LocalFrame

#: Jurisdictions may share this much area (a hectare) and still count as not overlapping.
OVERLAP_TOLERANCE_M2 = 10_000.0


class MutualAid(StrEnum):
    """May an owner's drone fly into another agency's jurisdiction."""

    ALWAYS = "always"
    PILOT_CONFIRM = "pilot_confirm"  # held until the owning agency's pilot confirms
    NEVER = "never"


class AgencyError(ValueError):
    """A jurisdiction that is no polygon."""


@dataclass(frozen=True)
class Jurisdiction:
    """An agency's area, in the deployment's local frame (metres), prepared once."""

    frame: LocalFrame
    shape_local: Polygon | MultiPolygon

    def __post_init__(self) -> None:
        shapely.prepare(self.shape_local)

    @classmethod
    def from_lonlat(cls, shape: BaseGeometry, frame: LocalFrame) -> Jurisdiction:
        """A (Multi)Polygon in longitude/latitude. Raises AgencyError."""
        if not isinstance(shape, Polygon | MultiPolygon):
            raise AgencyError(f"must be a Polygon or MultiPolygon, not a {shape.geom_type}")
        if not shape.is_valid or shape.area <= 0:
            raise AgencyError("is not a valid polygon (it crosses itself or has no area)")
        return cls(frame, shapely.transform(shape, frame.lonlat_array_to_xy))

    def contains(self, point: GeoPoint) -> bool:
        return bool(self.shape_local.covers(shapely.Point(self.frame.to_xy(point))))

    def overlaps(self, other: Jurisdiction) -> bool:
        """Whether the two share more than a border: more than `OVERLAP_TOLERANCE_M2` (a
        border two files draw along slightly different lines is no overlap)."""
        return self.shape_local.intersection(other.shape_local).area > OVERLAP_TOLERANCE_M2


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    jurisdiction: Jurisdiction | None
    stations: frozenset[str]
    #: The call sources (webhook senders) that report to this agency.
    sources: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Agencies:
    """The deployment's agencies and the mutual-aid rules between them. Empty: the one
    implicit agency (everything belongs to `None`, everyone sees everything)."""

    agencies: tuple[Agency, ...] = ()
    rules: Mapping[tuple[str, str], MutualAid] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.agencies)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.agencies)

    def get(self, agency_id: str) -> Agency:
        for a in self.agencies:
            if a.id == agency_id:
                return a
        raise KeyError(agency_id)

    def name_of(self, agency_id: str | None) -> str | None:
        return self.get(agency_id).name if agency_id is not None else None

    def of_station(self, station_id: str) -> str | None:
        """The agency holding the station (None: the implicit agency)."""
        for a in self.agencies:
            if station_id in a.stations:
                return a.id
        return None

    def of_source(self, source: str) -> str | None:
        for a in self.agencies:
            if source in a.sources:
                return a.id
        return None

    def agency_at(self, point: GeoPoint, fallback: str | None = None) -> str | None:
        """Whose jurisdiction `point` is in (the first listed, where they overlap); outside
        every one: `fallback` (the sender's or the user's agency), else the first agency."""
        if not self.agencies:
            return None
        for a in self.agencies:
            if a.jurisdiction is not None and a.jurisdiction.contains(point):
                return a.id
        return fallback if fallback in self.ids else self.agencies[0].id

    def rule(self, owner: str | None, into: str | None) -> MutualAid:
        """May `owner`'s drones fly into `into`'s jurisdiction. Its own: always."""
        if owner == into:
            return MutualAid.ALWAYS
        if owner is None or into is None:
            return MutualAid.NEVER
        return self.rules.get((owner, into), MutualAid.NEVER)


def may_see(seen_by: frozenset[str] | None, owners: Iterable[str | None]) -> bool:
    """Whether someone who sees `seen_by` (None: every agency) may see a record held by
    any of `owners` (a call's agency and those it is shared with; None: the implicit
    agency, which everyone sees).

    >>> may_see(None, ["apd"]), may_see(frozenset({"apd"}), ["bcso", "apd"])
    (True, True)
    >>> may_see(frozenset({"apd"}), ["bcso"]), may_see(frozenset({"apd"}), [None])
    (False, True)
    """
    if seen_by is None:
        return True
    return any(owner is None or owner in seen_by for owner in owners)
