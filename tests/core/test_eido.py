"""Reading EIDOs: NENA's schema, PIDF-LO locations (safely), and the deployment's [eido]."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dfr.deployment import DeploymentError, load_deployment
from dfr.eido import NotAnEido, NotUtf8, NoUsableLocation, incident_of, read_eido
from dfr.eido_schema import schema_problems, schema_text
from dfr.pidf_lo import PidfLoError, UnsafeXml, read_pidf_lo
from missions.geo import GeoPoint
from tests.deployments import edited_pueblo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eido"
INCIDENT = "urn:emergency:uid:incidentid:4f2a91c7e0:pueblo-ecc.co.us"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def with_location_xml(document: dict[str, Any], xml: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    changed["locationComponent"][0]["locationByValue"] = xml
    return changed


def test_the_vendored_schema_is_nenas_021_1b_file_unmodified() -> None:
    text = schema_text()
    assert text.startswith("openapi: 3.0.2")
    assert "EmergencyIncidentDataObjectType:" in text
    notice = (Path(__file__).resolve().parents[2] / "dfr/data/eido/NOTICE").read_text()
    assert "NENA-STA-021.1b" in notice
    assert "c3b8d2063be63d27ff7e2d3c353c597c71817a1b" in notice


def test_a_point_incident_is_read() -> None:
    incident = read_eido((FIXTURES / "point.json").read_bytes())
    assert incident.incident_id == INCIDENT
    assert incident.location == GeoPoint(38.2544, -104.6091)
    assert incident.uncertainty_m is None
    assert incident.incident_type == "Shooting"
    assert incident.call_type == "shooting"
    assert incident.version == "2026-03-14T15:26:53.000000+00:00"  # -06:00, in UTC
    # The type, the note's text without its HTML, and where.
    assert (
        incident.summary == "Shots fired — Two shots heard behind the library — behind the library"
    )


def test_a_circle_gives_its_centre_and_its_radius_as_uncertainty() -> None:
    incident = incident_of(fixture("circle"))
    assert incident.location == GeoPoint(38.2544, -104.6091)
    assert incident.uncertainty_m == 75.0
    assert incident.incident_type == "Burglary"


def test_the_update_is_a_later_version_of_the_same_incident() -> None:
    first, moved = incident_of(fixture("point")), incident_of(fixture("point-moved"))
    assert moved.incident_id == first.incident_id
    assert moved.version > first.version
    assert 300 < first.location.distance_m(moved.location) < 600


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("civic-only", "civic address only, and dfr has no geocoder"),
        ("no-location", "has no location"),
        ("xxe", "DTD or an entity"),
    ],
)
def test_locations_dfr_cannot_use_are_refused_with_the_reason(name: str, words: str) -> None:
    with pytest.raises(NoUsableLocation, match=words):
        incident_of(fixture(name))


def test_a_civic_address_with_a_point_uses_the_point() -> None:
    document = fixture("point")
    xml = document["locationComponent"][0]["locationByValue"]
    civic = (
        '<ca:civicAddress xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr">'
        "<ca:country>US</ca:country></ca:civicAddress>"
    )
    document = with_location_xml(document, xml.replace("<gml:Point", civic + "<gml:Point"))
    assert incident_of(document).location == GeoPoint(38.2544, -104.6091)


@pytest.mark.parametrize(
    ("pos", "words"),
    [
        ("200 -104.6091", "latitude 200 is outside"),
        ("NaN -104.6091", "latitude must be finite"),
        ("38.2544 inf", "longitude must be finite"),
        ("38.2544", "must hold 2 numbers"),
        ("north west", "not numbers"),
    ],
)
def test_a_position_that_is_no_place_on_earth_is_refused(pos: str, words: str) -> None:
    document = fixture("point")
    xml = document["locationComponent"][0]["locationByValue"]
    document = with_location_xml(document, xml.replace("38.2544 -104.6091", pos))
    with pytest.raises(NoUsableLocation, match=words):
        incident_of(document)


def test_billion_laughs_and_external_entities_are_never_expanded() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
        "<presence>&lol3;</presence>"
    )
    external_dtd = '<?xml version="1.0"?><!DOCTYPE presence SYSTEM "http://127.0.0.1:9/x.dtd"><p/>'
    for xml in (laughs, external_dtd):
        with pytest.raises(UnsafeXml):
            read_pidf_lo(xml)


@pytest.mark.parametrize(
    ("replace", "by", "words"),
    [
        ('uom="urn:ogc:def:uom:EPSG::9001">75', 'uom="urn:ogc:def:uom:EPSG::9093">75', "metres"),
        (">75</gs:radius>", ">-5</gs:radius>", "0 or more"),
        ("EPSG::4326", "EPSG::3857", "srsName"),
    ],
)
def test_a_circle_dfr_cannot_read_is_refused(replace: str, by: str, words: str) -> None:
    document = fixture("circle")
    xml = document["locationComponent"][0]["locationByValue"]
    assert replace in xml
    with pytest.raises(NoUsableLocation, match=words):
        incident_of(with_location_xml(document, xml.replace(replace, by)))


def test_other_shapes_and_broken_xml_are_refused_by_name() -> None:
    polygon = (
        '<gml:Polygon xmlns:gml="http://www.opengis.net/gml" srsName="urn:ogc:def:crs:EPSG::4326">'
        "<gml:exterior/></gml:Polygon>"
    )
    with pytest.raises(PidfLoError, match="Polygon"):
        read_pidf_lo(polygon)
    with pytest.raises(PidfLoError, match="not well-formed"):
        read_pidf_lo("<presence><unclosed></presence>")


def test_the_incidents_own_location_reference_decides_which_location() -> None:
    document = fixture("point")
    other = copy.deepcopy(document["locationComponent"][0])
    other["$id"] = "loc-caller"
    other["locationByValue"] = other["locationByValue"].replace("38.2544", "38.2600")
    document["locationComponent"].insert(0, other)  # first, but not the incident's
    assert incident_of(document).location == GeoPoint(38.2544, -104.6091)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda d: d.pop("agencyComponent"), "lacks the required member agencyComponent"),
        (lambda d: d.update(incidentComponent=[{}]), "incidentComponent: must be of type object"),
        (lambda d: d.update(eidoVersion="2.0"), "eidoVersion: must be one of '1.0'"),
        (lambda d: d["incidentComponent"].pop("incidentTypeCommonRegistryText"), "incidentType"),
        (lambda d: d.update(lastUpdateTimeStamp="yesterday"), "W3C date and time"),
        (lambda d: d.update(lastUpdateTimeStamp="2026-03-14T09:26:53"), "UTC offset"),
        (lambda d: d.update({"$id": "x" * 201}), "1 to 200 characters"),
    ],
)
def test_a_document_that_is_not_an_eido_is_refused_with_where(change, words: str) -> None:
    document = fixture("point")
    change(document)
    with pytest.raises(NotAnEido, match=words):
        incident_of(document)


def test_the_schema_never_quotes_the_senders_values() -> None:
    document = fixture("point")
    document["incidentComponent"]["incidentTypeCommonRegistryText"] = ["Jane Doe, 555-0100"]
    problems = schema_problems(document)
    assert problems == ["incidentComponent/incidentTypeCommonRegistryText: must be of type string"]


def test_person_and_vehicle_data_are_taken_as_they_come() -> None:
    """NIEM's person and vehicle types are not vendored: those parts are not checked."""
    document = fixture("point")
    document["personComponent"] = [
        {
            "$id": "person-1",
            "lastUpdateTimeStamp": "2026-03-14T09:26:53-06:00",
            "updatedByAgencyReference": {"$ref": "pueblo-ecc.co.us"},
            "personIncidentRoleRegistryText": ["Caller"],
        }
    ]
    assert schema_problems(document) == []


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"\xff\xfe{}", NotUtf8, "not UTF-8"),
        (b'{"$id": ', NotAnEido, "not JSON"),
        (b'{"lastUpdateTimeStamp": NaN}', NotAnEido, "NaN"),
        (b'{"x": -Infinity}', NotAnEido, "-Infinity"),
        (b"[" * 100_000, NotAnEido, "nested too deeply"),
        (b"[]", NotAnEido, "must be of type object"),
    ],
)
def test_bodies_that_are_not_json_eidos(body: bytes, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        read_eido(body)


def test_the_deployment_maps_incident_types_to_priorities(pueblo) -> None:
    eido = pueblo.eido
    assert eido.priority_for("Shooting") == 1
    assert eido.priority_for(" shots fired ") == 1  # trimmed, any case
    assert eido.priority_for("Burglary") == 3
    assert eido.priority_for("Noise complaint") == eido.default_priority == 3
    assert eido.priority_for(None, "robbery") == 1  # the internal code when the type is not listed
    assert eido.subscribe_url is None


@pytest.mark.parametrize(
    ("line", "replacement", "words"),
    [
        (r'^"Shooting" = 1$', '"Shooting" = 0', ["eido.priorities.Shooting", "greater than"]),
        (r'^"Shooting" = 1$', '"Shooting" = "high"', ["eido.priorities.Shooting", "integer"]),
        (
            r'^"Shooting" = 1$',
            '"SHOTS FIRED" = 1',
            ["eido.priorities", "is listed twice (case does not count)"],
        ),
        (r"^default_priority = 3$", "default_priority = 9", ["eido.default_priority"]),
        (r"^default_priority = 3$", "colour = 1", ["eido.colour", "unknown key"]),
        (
            r"^# subscribe_url = .*$",
            'subscribe_url = "http://cad.example.org/ent"',
            ["eido.subscribe_url", "ws:// or wss://"],
        ),
        (
            r"^# subscribe_url = .*$",
            'subscribe_url = "wss://user:pw@cad.example.org/ent"',
            ["eido.subscribe_url", "DFR_EIDO_SUBSCRIBE_TOKEN"],
        ),
    ],
)
def test_a_bad_eido_section_is_named_in_the_message(
    tmp_path: Path, line: str, replacement: str, words: list[str]
) -> None:
    with pytest.raises(DeploymentError) as refused:
        load_deployment(edited_pueblo(tmp_path, line, replacement))
    for word in words:
        assert word in str(refused.value)


def test_a_subscription_url_loads(tmp_path: Path) -> None:
    url = "wss://cad.example.org/ent"
    path = edited_pueblo(tmp_path, r"^# subscribe_url = .*$", f'subscribe_url = "{url}"')
    assert load_deployment(path).eido.subscribe_url == url
