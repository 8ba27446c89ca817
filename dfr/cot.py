"""Cursor on Target (CoT) events for TAK: a drone's track, a call's marker, the camera's
point of interest, and the deletion of a marker. Pure: values in, XML bytes out.

Every event is built with ElementTree (text from callers is escaped, and characters XML
cannot carry are dropped), and its `<point>` is written here with 8 decimals of a degree
(about a millimetre): pytak's own helpers round to 4 (about 11 m).

    a-f-A-M-H-Q   a drone: friendly, air, military, rotary wing, UAV; `how` m-g (GPS);
                  `<track course speed>`, and `<__video>` when its RTSP URL is known
    b-m-p-s-m     a call: a spot map marker, coloured by priority; `how` h-e (a position
                  a person gave: the caller, CAD, a dispatcher). Not b-a-o-tbl, which a
                  TAK client reads as one of its users' 911 beacons
    b-m-p-s-p-i   the camera's point of interest (a sensor point of interest), linked to
                  its drone's track; `how` m-c (where the mission points the camera)
    t-x-d-d       the deletion of a marker: `<link uid relation type>` and
                  `<__forcedelete/>`, which ATAK's CotDeleteImporter removes the map item
                  for (without it, ATAK only marks the item stale)

Heights: `hae` is height above the WGS84 ellipsoid; callers convert the vehicle's height
above mean sea level with the deployment's geoid height (`[tak] geoid_height_m`, see
dfr.tak_out). An unknown height or error is 9999999, CoT's "unknown".
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

DRONE_TYPE = "a-f-A-M-H-Q"
CALL_TYPE = "b-m-p-s-m"
POINT_OF_INTEREST_TYPE = "b-m-p-s-p-i"
DELETE_TYPE = "t-x-d-d"
#: CoT's value for an unknown height, circular error or linear error.
UNKNOWN = 9999999.0
#: Remarks and callsigns are cut to this many characters.
MAX_TEXT_CHARS = 1000

#: Marker colours (ARGB as a signed 32-bit integer, as ATAK writes them) by priority:
#: 1 red, 2 orange, 3 and above yellow.
PRIORITY_COLOURS = {1: -65536, 2: -23296}
OTHER_COLOUR = -256

# Characters XML 1.0 cannot carry (its Char production), even escaped.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class CotPoint:
    """Where an event is: degrees (WGS 84), height and errors in metres."""

    latitude_deg: float
    longitude_deg: float
    hae_m: float = UNKNOWN
    ce_m: float = UNKNOWN  # circular error (radius)
    le_m: float = UNKNOWN  # linear (vertical) error


@dataclass(frozen=True, slots=True)
class VideoFeed:
    """A drone's video as a TAK client opens it: an RTSP URL (rtsp://host[:port]/path)."""

    uid: str
    alias: str
    rtsp_url: str


@dataclass(frozen=True, slots=True)
class DroneTrack:
    uid: str
    callsign: str
    point: CotPoint
    course_deg: float | None = None  # over the ground, degrees true
    speed_m_s: float | None = None
    remarks: str = ""
    video: VideoFeed | None = None


@dataclass(frozen=True, slots=True)
class CallMarker:
    uid: str
    callsign: str
    point: CotPoint
    priority: int
    remarks: str = ""


@dataclass(frozen=True, slots=True)
class PointOfInterest:
    uid: str
    callsign: str
    point: CotPoint
    drone_uid: str  # the track of the drone whose camera looks here
    remarks: str = ""


def cot_time(at: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, as TAK writes it.

    >>> from datetime import UTC
    >>> cot_time(datetime(2026, 11, 30, 22, 35, 45, 123456, tzinfo=UTC))
    '2026-11-30T22:35:45.123Z'
    """
    if at.tzinfo is None:
        raise ValueError("a CoT time needs a time zone")
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def drone_track(track: DroneTrack, at: datetime, stale_s: float) -> bytes:
    """A drone's position, course and speed at `at`, stale `stale_s` later."""
    event = _event(track.uid, DRONE_TYPE, "m-g", at, stale_s, track.point)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", callsign=_text(track.callsign))
    if track.course_deg is not None or track.speed_m_s is not None:
        ET.SubElement(
            detail,
            "track",
            course=_number(track.course_deg % 360.0 if track.course_deg is not None else 0.0, 1),
            speed=_number(track.speed_m_s or 0.0, 2),
        )
    if track.remarks:
        ET.SubElement(detail, "remarks").text = _text(track.remarks)
    if track.video is not None:
        detail.append(_video(track.video))
    return _bytes(event)


def call_marker(marker: CallMarker, at: datetime, stale_s: float) -> bytes:
    """A call's marker; `stale_s` 0 marks it stale at once (the call was closed)."""
    event = _event(marker.uid, CALL_TYPE, "h-e", at, stale_s, marker.point)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", callsign=_text(marker.callsign))
    colour = str(PRIORITY_COLOURS.get(marker.priority, OTHER_COLOUR))
    ET.SubElement(detail, "color", argb=colour)
    ET.SubElement(detail, "usericon", iconsetpath=f"COT_MAPPING_SPOTMAP/{CALL_TYPE}/{colour}")
    if marker.remarks:
        ET.SubElement(detail, "remarks").text = _text(marker.remarks)
    return _bytes(event)


def point_of_interest(poi: PointOfInterest, at: datetime, stale_s: float) -> bytes:
    """Where a drone's camera looks; `stale_s` 0 marks it stale at once."""
    event = _event(poi.uid, POINT_OF_INTEREST_TYPE, "m-c", at, stale_s, poi.point)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "contact", callsign=_text(poi.callsign))
    ET.SubElement(detail, "link", uid=_text(poi.drone_uid), relation="p-p", type=DRONE_TYPE)
    if poi.remarks:
        ET.SubElement(detail, "remarks").text = _text(poi.remarks)
    return _bytes(event)


def deletion(uid: str, cot_type: str, at: datetime, point: CotPoint | None = None) -> bytes:
    """Delete the marker `uid` (of `cot_type`) from TAK clients' maps."""
    where = point or CotPoint(0.0, 0.0)
    event = _event(f"{uid}.delete", DELETE_TYPE, "m-g", at, 20.0, where)
    detail = ET.SubElement(event, "detail")
    ET.SubElement(detail, "link", uid=_text(uid), relation="none", type=cot_type)
    ET.SubElement(detail, "__forcedelete")
    return _bytes(event)


# -- inside ---------------------------------------------------------------------------


def _event(
    uid: str, cot_type: str, how: str, at: datetime, stale_s: float, point: CotPoint
) -> ET.Element:
    if not stale_s >= 0:
        raise ValueError(f"stale_s must be 0 or more, not {stale_s}")
    event = ET.Element(
        "event",
        version="2.0",
        uid=_text(uid),
        type=cot_type,
        how=how,
        time=cot_time(at),
        start=cot_time(at),
        stale=cot_time(at + timedelta(seconds=stale_s)),
    )
    ET.SubElement(event, "point", _point(point))
    return event


def _point(point: CotPoint) -> dict[str, str]:
    lat, lon = point.latitude_deg, point.longitude_deg
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ValueError(f"not a position: {lat!r}, {lon!r}")
    return {
        "lat": f"{lat:.8f}",
        "lon": f"{lon:.8f}",
        "hae": _number(point.hae_m, 2),
        "ce": _number(point.ce_m, 1),
        "le": _number(point.le_m, 1),
    }


def _number(value: float, decimals: int) -> str:
    """A finite number with `decimals` places; anything else is CoT's unknown."""
    if not math.isfinite(value):
        value = UNKNOWN
    return f"{value:.{decimals}f}"


def _text(value: str) -> str:
    """Text as XML can carry it: characters it cannot hold dropped, cut to a length."""
    return _NOT_XML.sub("", value)[:MAX_TEXT_CHARS]


def _video(feed: VideoFeed) -> ET.Element:
    """ATAK's `<__video>`: the URL, and a `<ConnectionEntry>` a client adds to its video
    list (the attributes ATAK's VideoDetailHandler reads)."""
    parts = urlsplit(feed.rtsp_url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    video = ET.Element("__video", uid=_text(feed.uid), url=_text(feed.rtsp_url))
    ET.SubElement(
        video,
        "ConnectionEntry",
        uid=_text(feed.uid),
        alias=_text(feed.alias),
        protocol="rtsp",
        address=_text(parts.hostname or ""),
        port=str(parts.port or 554),
        path=_text(path),
        networkTimeout="5000",
        bufferTime="-1",
        roverPort="-1",
        rtspReliable="0",
        ignoreEmbeddedKLV="false",
    )
    return video


def _bytes(event: ET.Element) -> bytes:
    return ET.tostring(event, encoding="utf-8", xml_declaration=False)
