"""The OpenAPI document lists the answers that come from before any route runs (the body
limit, the login throttle, the token check), and every error in the one shape."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dfr.cli import server_app
from tests.api.conftest import make_settings

#: The one error shape: a sentence, or (422) a list naming each bad field.
SHAPES = {"#/components/schemas/ErrorOut", "#/components/schemas/InvalidOut"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return server_app(make_settings(tmp_path_factory.mktemp("document"))).openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield f"{method.upper()} {path}", operation


def test_every_body_may_be_refused_as_too_large(document) -> None:
    undocumented = [
        name
        for name, operation in operations(document)
        if "requestBody" in operation and "413" not in operation["responses"]
    ]
    assert undocumented == []


def test_every_route_behind_a_token_may_refuse_it(document) -> None:
    undocumented = [
        name
        for name, operation in operations(document)
        if operation.get("security") and "401" not in operation["responses"]
    ]
    assert undocumented == []


def test_the_login_throttle_and_its_retry_after_are_documented(document) -> None:
    throttled = document["paths"]["/api/login"]["post"]["responses"]["429"]
    assert "Retry-After" in throttled["headers"]
    assert throttled["content"]["application/json"]["schema"]["$ref"] in SHAPES


def test_every_error_has_the_one_shape(document) -> None:
    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) < 400 or name == "GET /api/health":  # health's 503 is its report
                continue
            schema = response["content"]["application/json"]["schema"]
            if "$ref" in schema:
                assert schema["$ref"] in SHAPES, (name, status)
            else:  # WHEP's, which knows nothing of dfr's models: the same shape, written out
                assert schema["properties"] == {"detail": {"type": "string"}}, (name, status)
