"""PIDF-LO (RFC 4119, shapes RFC 5491): where an EIDO's location is, read safely.

An EIDO carries its locations as PIDF-LO XML text (`locationByValue`). dfr takes a
geodetic point from it: a GML `Point`, or the centre of a `Circle`, whose radius is the
location's uncertainty. A civic address is recognised but not used (dfr has no
geocoder). Other shapes (polygon, ellipse, arc band, prism...) are refused by name.

The XML is parsed with `defusedxml` and no DTD at all: no entity (the billion laughs),
no external entity or DTD (XXE, a network fetch), whatever the document declares.

Errors::

    PidfLoError         (ValueError) XML that is not PIDF-LO dfr can read, with why
    └── UnsafeXml       a DTD, entity or external reference: refused unread
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from missions.geo import CoordinateError, GeoPoint

GML = "{http://www.opengis.net/gml}"
SHAPES = "{http://www.opengis.net/pidflo/1.0}"
CIVIC = "{urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr}"
#: RFC 5491: 2D WGS84 "latitude longitude", and 3D with a height after them.
SRS_2D = "urn:ogc:def:crs:EPSG::4326"
SRS_3D = "urn:ogc:def:crs:EPSG::4979"
METRE = "urn:ogc:def:uom:EPSG::9001"
#: The RFC 5491 shapes dfr does not reduce to a point, by their element names.
OTHER_SHAPES = {
    f"{GML}Polygon": "Polygon",
    f"{SHAPES}Ellipse": "Ellipse",
    f"{SHAPES}ArcBand": "ArcBand",
    f"{SHAPES}Sphere": "Sphere",
    f"{SHAPES}Ellipsoid": "Ellipsoid",
    f"{SHAPES}Prism": "Prism",
}


class PidfLoError(ValueError):
    """A location that cannot be read; the message says why."""


class UnsafeXml(PidfLoError):
    """XML with a DTD, an entity or an external reference (never expanded or fetched)."""


@dataclass(frozen=True, slots=True)
class PidfLocation:
    """What dfr reads of one PIDF-LO document."""

    point: GeoPoint | None  # a GML Point, or a Circle's centre
    uncertainty_m: float | None  # a Circle's radius (metres)
    shape: str | None  # "Point" or "Circle"; None without a geodetic shape
    civic: bool  # a civic address is present


def read_pidf_lo(text: str) -> PidfLocation:
    """The first geodetic Point or Circle of `text`, and whether it has a civic address.

    Raises UnsafeXml for a DTD or entity, PidfLoError for XML that is not well formed,
    a shape dfr cannot use, or coordinates that are not a place on Earth.
    """
    try:
        root = fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise UnsafeXml(
            "the PIDF-LO has a DTD or an entity declaration, which dfr never reads"
        ) from exc
    except ParseError as exc:
        raise PidfLoError(f"the PIDF-LO is not well-formed XML ({exc})") from exc
    civic = any(True for _ in root.iter(f"{CIVIC}civicAddress"))
    for element in root.iter():
        if element.tag == f"{GML}Point":
            return PidfLocation(_position(element, "Point"), None, "Point", civic)
        if element.tag == f"{SHAPES}Circle":
            radius = _radius(element)
            return PidfLocation(_position(element, "Circle"), radius, "Circle", civic)
        if element.tag in OTHER_SHAPES:
            raise PidfLoError(
                f"the PIDF-LO location is a {OTHER_SHAPES[element.tag]}; dfr takes a "
                "GML Point or Circle"
            )
    return PidfLocation(None, None, None, civic)


def _position(shape: Element, name: str) -> GeoPoint:
    srs = shape.get("srsName", SRS_2D)
    if srs not in (SRS_2D, SRS_3D):
        raise PidfLoError(f"the {name}'s srsName {srs[:80]!r} is not {SRS_2D} or {SRS_3D}")
    pos = shape.find(f"{GML}pos")
    if pos is None or not (pos.text or "").strip():
        raise PidfLoError(f"the {name} has no gml:pos")
    words = (pos.text or "").split()
    wanted = 3 if srs == SRS_3D else 2
    if len(words) != wanted:
        raise PidfLoError(f"the {name}'s gml:pos must hold {wanted} numbers, not {len(words)}")
    try:
        latitude_deg, longitude_deg = float(words[0]), float(words[1])
    except ValueError:
        raise PidfLoError(f"the {name}'s gml:pos is not numbers") from None
    try:
        return GeoPoint(latitude_deg, longitude_deg)
    except CoordinateError as exc:
        raise PidfLoError(f"the {name}'s gml:pos: {exc}") from exc


def _radius(circle: Element) -> float:
    radius = circle.find(f"{SHAPES}radius")
    if radius is None:
        raise PidfLoError("the Circle has no radius")
    uom = radius.get("uom", METRE)
    if uom != METRE:
        raise PidfLoError(f"the Circle's radius must be in metres ({METRE})")
    try:
        value = float((radius.text or "").strip())
    except ValueError:
        raise PidfLoError("the Circle's radius is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise PidfLoError("the Circle's radius must be a finite number of metres, 0 or more")
    return value
