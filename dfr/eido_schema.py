"""The EIDO schema (NENA-STA-021.1b) as a validator: NENA's OpenAPI components, vendored
unmodified in `dfr/data/eido/` (see its NOTICE), checked with `jsonschema`.

There is no standalone JSON Schema for an EIDO: NENA publishes OpenAPI 3.0 components,
whose `$ref`s point into the same document (`#/components/schemas/...`) and, for person
and vehicle data only, into NIEM component files. The document is registered in a
`referencing.Registry` under the address it was published at, so that its `$ref`s
resolve offline; the two NIEM types are not vendored (3 MB that dfr never reads) and
are registered as schemas that accept anything. OpenAPI 3.0 schema objects follow JSON
Schema draft 4 (boolean `exclusiveMaximum`, `$ref` siblings ignored), so draft 4 it is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urldefrag, urljoin

if TYPE_CHECKING:
    from jsonschema import Draft4Validator, ValidationError

#: Where NENA published the vendored file: the base its relative `$ref`s resolve against.
#: Only a name here: nothing is ever fetched from it.
SCHEMA_URI = "https://github.com/NENA911/EIDO-JSON/raw/NENA-STA-021.1b/Schema/openapi.yaml"
DOCUMENT_TYPE = "EmergencyIncidentDataObjectType"
#: At most this many schema problems are reported for one document.
MAX_PROBLEMS = 5


def schema_text() -> str:
    return (resources.files("dfr") / "data" / "eido" / "openapi.yaml").read_text("utf-8")


#: One validation at a time: jsonschema does not promise that a validator may be shared
#: between threads, and EIDOs are validated in worker threads (dfr.eido_intake).
_validating = threading.Lock()


@cache
def eido_validator() -> Draft4Validator:
    """The validator of a whole EIDO, built once, on first use: reading the schema takes
    ~20 ms, and its libraries are imported then, so that a server that never sees an
    EIDO does not pay for them when it starts."""
    import yaml
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    document = yaml.safe_load(schema_text())
    registry: Registry = Registry().with_resource(
        SCHEMA_URI, Resource.from_contents(document, default_specification=DRAFT4)
    )
    for uri, contents in _open_stand_ins(document).items():
        registry = registry.with_resource(
            uri, Resource.from_contents(contents, default_specification=DRAFT4)
        )
    root = {"$ref": f"{SCHEMA_URI}#/components/schemas/{DOCUMENT_TYPE}"}
    return Draft4Validator(root, registry=registry)


def schema_problems(document: object) -> list[str]:
    """What makes `document` not an EIDO, each as "where: what" (at most MAX_PROBLEMS,
    the shallowest first); empty when it follows the schema. The document's values are
    never quoted back: they may be long, or someone's personal data."""
    with _validating:
        found = list(eido_validator().iter_errors(document))
    errors = sorted(found, key=lambda e: len(e.absolute_path))
    problems: list[str] = []
    for error in errors:
        where = "/".join(str(p) for p in error.absolute_path) or "the document"
        problem = f"{where}: {_what(error)}"
        if problem not in problems:
            problems.append(problem)
        if len(problems) == MAX_PROBLEMS:
            break
    return problems


def _what(error: ValidationError) -> str:
    """A validation failure in words, without the offending value."""
    expected = error.validator_value
    match error.validator:
        case "required":
            present = error.instance if isinstance(error.instance, dict) else {}
            missing = [str(name) for name in expected if name not in present]
            return f"lacks the required member {', '.join(missing)}"
        case "type":
            return f"must be of type {expected}"
        case "enum":
            return f"must be one of {', '.join(map(repr, expected))}"
        case _:
            return f"fails the schema's {error.validator!r} rule"


def _open_stand_ins(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """For each file outside the vendored one that its `$ref`s name (NIEM's nc.yaml): a
    stand-in holding an empty schema, which accepts anything, at each pointer named."""
    stand_ins: dict[str, dict[str, Any]] = {}
    for ref in _refs(document):
        uri, fragment = urldefrag(urljoin(SCHEMA_URI, ref))
        if uri == SCHEMA_URI:
            continue
        node = stand_ins.setdefault(uri, {})
        parts = [p for p in fragment.split("/") if p]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if parts:
            node[parts[-1]] = {}
    return stand_ins


def _refs(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
