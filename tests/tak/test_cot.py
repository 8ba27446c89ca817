"""Cursor on Target events as dfr builds them, parsed back: types, how, times, positions
to a millionth of a degree, escaping of untrusted text, ATAK's __video and delete."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from dfr import cot

AT = datetime(2026, 11, 30, 22, 35, 45, 123456, tzinfo=UTC)
# Positions with more digits than pytak's helpers keep (4 decimals, about 11 m).
LAT, LON = 38.25443217, -104.60912789


def parsed(data: bytes) -> ET.Element:
    assert not data.startswith(b"<?xml")
    return ET.fromstring(data)


def times(event: ET.Element) -> tuple[datetime, datetime, datetime]:
    def read(name: str) -> datetime:
        text = event.get(name)
        assert text is not None
        assert text.endswith("Z"), text
        return datetime.fromisoformat(text)

    return read("time"), read("start"), read("stale")


def track(**overrides: object) -> cot.DroneTrack:
    values: dict[str, object] = {
        "uid": "dfr-pueblo.drone.dfr-1",
        "callsign": "dfr-1",
        "point": cot.CotPoint(LAT, LON, 1490.25),
        "course_deg": 87.5,
        "speed_m_s": 17.9,
        "remarks": "en route",
    }
    values.update(overrides)
    return cot.DroneTrack(**values)  # type: ignore[arg-type]


def test_a_drone_track_is_a_friendly_rotary_uav_by_gps_stale_after_its_seconds() -> None:
    event = parsed(cot.drone_track(track(), AT, 5.0))
    assert event.tag == "event"
    assert event.get("version") == "2.0"
    assert event.get("type") == "a-f-A-M-H-Q"
    assert event.get("how") == "m-g"
    assert event.get("uid") == "dfr-pueblo.drone.dfr-1"
    time, start, stale = times(event)
    assert time == start == AT.replace(microsecond=123000)
    assert stale - time == timedelta(seconds=5)
    point = event.find("point")
    assert point is not None
    assert abs(float(point.get("lat", "nan")) - LAT) < 1e-6
    assert abs(float(point.get("lon", "nan")) - LON) < 1e-6
    assert len(point.get("lat", "").split(".")[1]) >= 7  # written by dfr, not rounded to 4
    assert float(point.get("hae", "nan")) == pytest.approx(1490.25)
    assert float(point.get("ce", "nan")) == cot.UNKNOWN
    detail = event.find("detail")
    assert detail is not None
    assert detail.find("contact").get("callsign") == "dfr-1"  # type: ignore[union-attr]
    course = detail.find("track")
    assert course is not None
    assert float(course.get("course", "nan")) == pytest.approx(87.5)
    assert float(course.get("speed", "nan")) == pytest.approx(17.9)
    assert detail.findtext("remarks") == "en route"
    assert detail.find("__video") is None


def test_a_track_with_video_carries_atak_s_connection_entry() -> None:
    url = "rtsp://video.example.org:8554/live/dfr-1?token=abc&x=1"
    feed = cot.VideoFeed("dfr-pueblo.video.dfr-1", "dfr-1 video", url)
    video = parsed(cot.drone_track(track(video=feed), AT, 5.0)).find("detail/__video")
    assert video is not None
    assert video.get("url") == url
    assert video.get("uid") == "dfr-pueblo.video.dfr-1"
    entry = video.find("ConnectionEntry")
    assert entry is not None
    assert entry.get("protocol") == "rtsp"
    assert entry.get("address") == "video.example.org"
    assert entry.get("port") == "8554"
    assert entry.get("path") == "/live/dfr-1?token=abc&x=1"
    assert entry.get("uid") == "dfr-pueblo.video.dfr-1"
    assert entry.get("alias") == "dfr-1 video"
    assert entry.get("networkTimeout") == "5000"


def test_an_rtsp_url_without_a_port_gets_rtsp_s_own() -> None:
    feed = cot.VideoFeed("v", "v", "rtsp://cam.example.org/dfr-2")
    entry = parsed(cot.drone_track(track(video=feed), AT, 5.0)).find(
        "detail/__video/ConnectionEntry"
    )
    assert entry is not None
    assert entry.get("port") == "554"


def test_a_call_is_a_spot_map_marker_coloured_by_priority_not_a_911_beacon() -> None:
    marker = cot.CallMarker("dfr.call.12", "Call 12 P1 shooting", cot.CotPoint(LAT, LON), 1)
    event = parsed(cot.call_marker(marker, AT, 600.0))
    assert event.get("type") == "b-m-p-s-m"
    assert event.get("type") != "b-a-o-tbl"
    assert event.get("how") == "h-e"
    time, _, stale = times(event)
    assert stale - time == timedelta(seconds=600)
    assert event.find("detail/color").get("argb") == "-65536"  # type: ignore[union-attr]
    icon = event.find("detail/usericon")
    assert icon is not None
    assert icon.get("iconsetpath") == "COT_MAPPING_SPOTMAP/b-m-p-s-m/-65536"
    point = event.find("point")
    assert point is not None
    assert abs(float(point.get("lat", "nan")) - LAT) < 1e-6
    assert abs(float(point.get("lon", "nan")) - LON) < 1e-6


def test_a_closed_call_s_last_marker_is_stale_at_once() -> None:
    marker = cot.CallMarker("dfr.call.12", "Call 12", cot.CotPoint(LAT, LON), 3)
    time, _, stale = times(parsed(cot.call_marker(marker, AT, 0.0)))
    assert stale == time


def test_a_call_note_is_escaped_and_comes_back_as_written() -> None:
    note = 'caller says <script>alert("x")</script> & "leave" \'now\' ]]> é 🚁'
    marker = cot.CallMarker(
        'dfr.call."1"', 'Call <1> & "2"', cot.CotPoint(LAT, LON), 2, remarks=note
    )
    data = cot.call_marker(marker, AT, 60.0)
    assert b"<script>" not in data
    event = parsed(data)
    assert event.findtext("detail/remarks") == note
    assert event.find("detail/contact").get("callsign") == 'Call <1> & "2"'  # type: ignore[union-attr]
    assert event.get("uid") == 'dfr.call."1"'
    assert [e.tag for e in event.iter()].count("script") == 0


def test_characters_xml_cannot_carry_are_dropped_and_long_text_is_cut() -> None:
    note = "a\x00b\x07c\x1bd\ud800e" + "x" * 5000
    marker = cot.CallMarker("u", "c", cot.CotPoint(LAT, LON), 1, remarks=note)
    remarks = parsed(cot.call_marker(marker, AT, 60.0)).findtext("detail/remarks")
    assert remarks is not None
    assert remarks.startswith("abcde")
    assert len(remarks) == cot.MAX_TEXT_CHARS


def test_the_camera_point_of_interest_is_linked_to_its_drone() -> None:
    poi = cot.PointOfInterest(
        "dfr.poi.dfr-1", "dfr-1 camera", cot.CotPoint(LAT, LON), "dfr.drone.dfr-1"
    )
    event = parsed(cot.point_of_interest(poi, AT, 600.0))
    assert event.get("type") == "b-m-p-s-p-i"
    link = event.find("detail/link")
    assert link is not None
    assert link.get("uid") == "dfr.drone.dfr-1"
    assert link.get("type") == "a-f-A-M-H-Q"
    assert link.get("relation") == "p-p"
    point = event.find("point")
    assert point is not None
    assert abs(float(point.get("lat", "nan")) - LAT) < 1e-6


def test_a_deletion_names_the_marker_and_forces_its_removal() -> None:
    event = parsed(cot.deletion("dfr.call.12", cot.CALL_TYPE, AT))
    assert event.get("type") == "t-x-d-d"
    assert event.get("uid") != "dfr.call.12"
    link = event.find("detail/link")
    assert link is not None
    assert (link.get("uid"), link.get("type"), link.get("relation")) == (
        "dfr.call.12",
        "b-m-p-s-m",
        "none",
    )
    assert event.find("detail/__forcedelete") is not None


def test_unknown_or_odd_numbers_become_cot_s_unknown() -> None:
    event = parsed(
        cot.drone_track(
            track(point=cot.CotPoint(LAT, LON, float("nan")), course_deg=-90.0), AT, 5.0
        )
    )
    assert float(event.find("point").get("hae")) == cot.UNKNOWN  # type: ignore[union-attr,arg-type]
    assert float(event.find("detail/track").get("course")) == 270.0  # type: ignore[union-attr,arg-type]


@pytest.mark.parametrize(("lat", "lon"), [(91.0, 0.0), (0.0, 181.0), (float("nan"), 0.0)])
def test_a_position_that_is_not_one_is_refused(lat: float, lon: float) -> None:
    with pytest.raises(ValueError, match="not a position"):
        cot.drone_track(track(point=cot.CotPoint(lat, lon)), AT, 5.0)


def test_a_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        cot.cot_time(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test
