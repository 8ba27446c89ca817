"""An EIDO (NENA-STA-021.1b Emergency Incident Data Object) read into what dfr needs of
an incident: its tracking id and version, its type, a summary and where it is.

What dfr reads, and from where:

* the incident: the EIDO's own `$id`, the Incident Tracking Identifier (the same for
  every version of the incident), and its `lastUpdateTimeStamp` (the version: a
  later one replaces an earlier one);
* its type: the `incidentComponent`'s `incidentTypeCommonRegistryText`, and its
  `incidentTypeInternalCode` and `incidentTypeInternalText`;
* its summary: the type, the text of the notes the incident refers to and the
  location's description, without their HTML;
* where it is: the location components the incident refers to (`locationReference`;
  every `locationComponent` when it refers to none), in order, each a PIDF-LO in
  `locationByValue` (`dfr.pidf_lo`): the first geodetic Point or Circle. A location
  by reference (`locationByReferenceUrl`) is never fetched.

Errors (the message is what the sender is told)::

    EidoError               (ValueError)
    ├── NotUtf8             the body is not UTF-8 text (HTTP 400)
    ├── NotAnEido           not JSON, or not following the EIDO schema (HTTP 422)
    └── NoUsableLocation    no location, a civic address only, or one that cannot be
                            read or is not a place on Earth (HTTP 422)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from dfr.deployment import CALL_TYPE_PATTERN, call_type_key
from dfr.eido_schema import schema_problems
from dfr.pidf_lo import PidfLocation, PidfLoError, read_pidf_lo
from missions.geo import GeoPoint

#: The content type of an EIDO in JSON (NENA-STA-021).
EIDO_MEDIA_TYPE = "application/emergency.eido+json"
MAX_SUMMARY_CHARS = 500
#: Incident Tracking Identifiers are URNs of a few dozen characters (NENA-STA-010).
MAX_INCIDENT_ID_CHARS = 200


class EidoError(ValueError):
    """An EIDO dfr cannot take; the message says why."""


class NotUtf8(EidoError):
    pass


class NotAnEido(EidoError):
    pass


class NoUsableLocation(EidoError):
    pass


@dataclass(frozen=True, slots=True)
class EidoIncident:
    """One version of an incident, as dfr takes it."""

    incident_id: str  # the Incident Tracking Identifier (the EIDO's $id)
    updated_at: datetime  # the EIDO's lastUpdateTimeStamp, with its offset
    incident_type: str | None  # incidentTypeCommonRegistryText
    internal_type_code: str | None
    summary: str
    location: GeoPoint
    uncertainty_m: float | None  # a Circle's radius; None for a Point
    location_id: str  # the $id of the location component it came from

    @property
    def version(self) -> str:
        """The version as dfr stores and compares it: UTC, to the microsecond."""
        return self.updated_at.astimezone(UTC).isoformat(timespec="microseconds")

    @property
    def call_type(self) -> str | None:
        """The type as a call's `call_type`, when it can be one (dfr.deployment)."""
        for name in (self.incident_type, self.internal_type_code):
            if name is not None and re.fullmatch(CALL_TYPE_PATTERN, name.strip()):
                return call_type_key(name)
        return None


def read_eido(body: bytes) -> EidoIncident:
    """An EIDO's JSON text, as a request or a notification brings it. Raises EidoError."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise NotUtf8("the body is not UTF-8 text") from None
    try:
        document = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise NotAnEido(f"the body is not JSON: {exc.msg} at character {exc.pos}") from None
    except RecursionError:
        raise NotAnEido("the body is JSON nested too deeply") from None
    return incident_of(document)


def incident_of(document: object) -> EidoIncident:
    """The incident of an EIDO already decoded from JSON. Raises NotAnEido or
    NoUsableLocation."""
    problems = schema_problems(document)
    if problems:
        raise NotAnEido("not an EIDO (NENA-STA-021.1b): " + "; ".join(problems))
    assert isinstance(document, dict)  # the schema says: an object
    incident_id = document["$id"].strip()
    if not 0 < len(incident_id) <= MAX_INCIDENT_ID_CHARS:
        raise NotAnEido(f"the EIDO's $id must be 1 to {MAX_INCIDENT_ID_CHARS} characters")
    incident = document.get("incidentComponent") or {}
    point, uncertainty_m, location_id, location_text = _location(document, incident)
    common = _text(incident.get("incidentTypeCommonRegistryText"))
    internal_text = _text(incident.get("incidentTypeInternalText"))
    notes = _referenced(document, "notesComponent", incident.get("notesReference"))
    parts = [
        internal_text or common or "EIDO incident",
        *(_plain(_text(n.get("notesActionComments"))) for n in notes),
        location_text,
    ]
    summary = " — ".join(p for p in parts if p)
    return EidoIncident(
        incident_id=incident_id,
        updated_at=_timestamp(document["lastUpdateTimeStamp"]),
        incident_type=common,
        internal_type_code=_text(incident.get("incidentTypeInternalCode")),
        summary=_clean(summary)[:MAX_SUMMARY_CHARS],
        location=point,
        uncertainty_m=uncertainty_m,
        location_id=location_id,
    )


def _location(
    document: dict[str, Any], incident: dict[str, Any]
) -> tuple[GeoPoint, float | None, str, str]:
    """The incident's first geodetic location: (point, uncertainty, its component's $id,
    its description). Every PIDF-LO is read first: one that is unsafe refuses the EIDO."""
    references = incident.get("locationReference")
    components = (
        _referenced(document, "locationComponent", references)
        if references
        else [c for c in document.get("locationComponent") or [] if isinstance(c, dict)]
    )
    by_value = [c for c in components if isinstance(c.get("locationByValue"), str)]
    read: list[tuple[PidfLocation, dict[str, Any]]] = []
    for component in by_value:
        try:
            read.append((read_pidf_lo(component["locationByValue"]), component))
        except PidfLoError as exc:
            raise NoUsableLocation(f"location {_name(component)}: {exc}") from exc
    for location, component in read:
        if location.point is not None:
            description = _plain(_text(component.get("locationDescriptionText")))
            return location.point, location.uncertainty_m, str(component["$id"]), description
    if any(location.civic for location, _ in read):
        raise NoUsableLocation(
            "the incident's location is a civic address only, and dfr has no geocoder: "
            "send a geodetic Point or Circle (GML, in the PIDF-LO) with it"
        )
    if any(isinstance(c.get("locationByReferenceUrl"), str) for c in components):
        raise NoUsableLocation(
            "the incident's location is by reference only (locationByReferenceUrl), "
            "which dfr does not fetch: send it by value (locationByValue, PIDF-LO)"
        )
    if by_value:
        raise NoUsableLocation("the incident's PIDF-LO has no geodetic Point or Circle")
    raise NoUsableLocation(
        "the EIDO has no location: no locationComponent with a locationByValue (PIDF-LO)"
    )


def _referenced(
    document: dict[str, Any], component: str, references: object
) -> list[dict[str, Any]]:
    """The components of kind `component` that `references` ([{"$ref": id}]) name, in
    their order (a reference to nothing is passed over)."""
    if not isinstance(references, list):
        return []
    by_id = {c.get("$id"): c for c in document.get(component) or [] if isinstance(c, dict)}
    found = []
    for ref in references:
        target = by_id.get(ref.get("$ref")) if isinstance(ref, dict) else None
        if target is not None:
            found.append(target)
    return found


def _timestamp(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise NotAnEido("lastUpdateTimeStamp is not a W3C date and time") from None
    if when.tzinfo is None:
        raise NotAnEido("lastUpdateTimeStamp needs its UTC offset (e.g. Z or -06:00)")
    return when


def _no_constant(name: str) -> float:
    raise NotAnEido(f"the body holds {name}, which is not a JSON number")


def _text(value: object) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _name(component: dict[str, Any]) -> str:
    return repr(str(component.get("$id", ""))[:100])


def _clean(text: str) -> str:
    """One line: runs of white space (new lines too) as one space."""
    return " ".join(text.split())


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _plain(html: str | None) -> str:
    """The text of a note (HTML5 in an EIDO), without its markup."""
    if not html:
        return ""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    return _clean(" ".join(parser.parts))
