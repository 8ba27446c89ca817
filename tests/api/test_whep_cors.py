"""WHEP from pages on other origins: CORS answered for the deployment's `[video]
cors_origins` only, preflights without a token, and a session that a player which sent
its token in the query can still end. The real server (`create_app`, simulated drones)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from fastapi.testclient import TestClient
from httpx import Response

from dfr.cli import server_app
from tests.api.conftest import PASSWORDS, make_settings
from tests.deployments import edited_pueblo

ALLOWED = "http://127.0.0.1:8123"
STRANGER = "http://127.0.0.1:8124"
STREAM = "/whep/dfr-1"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("whep-cors")
    toml = edited_pueblo(
        folder, r"^\[defaults\]$", f'[video]\ncors_origins = ["{ALLOWED}"]\n\n[defaults]'
    )
    settings = make_settings(folder, deployment=toml)
    with TestClient(server_app(settings)) as test_client:
        yield test_client


def token(client: TestClient, name: str = "rtcc") -> str:
    response = client.post("/api/login", json={"username": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def offer_sdp() -> str:
    """A real browser-like offer (aiortc's), video and audio to receive."""

    async def make() -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("video", direction="recvonly")
        pc.addTransceiver("audio", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = str(pc.localDescription.sdp)
        await pc.close()
        return sdp

    return asyncio.run(make())


def cors_headers(response: Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def test_a_preflight_from_a_listed_origin_needs_no_token(client: TestClient) -> None:
    for path in (STREAM, f"{STREAM}/some-session"):
        answer = client.options(path, headers={"Origin": ALLOWED, **PREFLIGHT})
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["access-control-allow-origin"] == ALLOWED
        methods = answer.headers["access-control-allow-methods"].split(", ")
        assert {"POST", "PATCH", "DELETE", "OPTIONS", "GET"} <= set(methods)
        headers = answer.headers["access-control-allow-headers"].lower().split(", ")
        assert {"authorization", "content-type", "if-match"} <= set(headers)
        assert int(answer.headers["access-control-max-age"]) > 0
        assert "access-control-allow-credentials" not in answer.headers
        assert "Origin" in answer.headers["vary"]
    endpoint = client.options(STREAM, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert endpoint.headers["accept-post"] == "application/sdp"


def test_a_preflight_from_another_origin_gets_no_cors_and_no_401(client: TestClient) -> None:
    for origin in (STRANGER, "null", ALLOWED + "/", ALLOWED.upper()):
        answer = client.options(STREAM, headers={"Origin": origin, **PREFLIGHT})
        assert answer.status_code == 200
        assert cors_headers(answer) == {}, origin
        assert "Origin" in answer.headers["vary"]
    plain = client.options(STREAM)
    assert plain.status_code == 200
    assert plain.headers["accept-post"] == "application/sdp"
    assert cors_headers(plain) == {}


def test_an_offer_without_a_token_is_refused_readably_for_a_listed_origin(
    client: TestClient,
) -> None:
    sdp = {"Content-Type": "application/sdp"}
    allowed = client.post(STREAM, content="v=0\r\n", headers={"Origin": ALLOWED, **sdp})
    assert allowed.status_code == 401
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    exposed = allowed.headers["access-control-expose-headers"].split(", ")
    assert {"Location", "ETag", "Link", "WWW-Authenticate"} <= set(exposed)
    stranger = client.post(STREAM, content="v=0\r\n", headers={"Origin": STRANGER, **sdp})
    assert stranger.status_code == 401
    assert cors_headers(stranger) == {}
    nobody = client.post(STREAM, content="v=0\r\n", headers=sdp)
    assert nobody.status_code == 401
    assert cors_headers(nobody) == {}


def test_cors_is_for_the_whep_paths_only(client: TestClient) -> None:
    health = client.get("/api/health", headers={"Origin": ALLOWED})
    assert cors_headers(health) == {}
    login = client.options("/api/login", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert cors_headers(login) == {}


def test_get_and_head_answer_2xx_without_content_or_token(client: TestClient) -> None:
    for method in ("GET", "HEAD"):
        answer = client.request(method, STREAM, headers={"Origin": ALLOWED})
        assert answer.status_code == 200
        assert answer.content == b""
        assert answer.headers["content-type"] == "application/sdp"
        assert answer.headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("token_in", ["header", "query"])
def test_a_session_is_ended_through_its_location_however_the_token_came(
    client: TestClient, token_in: str
) -> None:
    secret = token(client)
    headers = {"Origin": ALLOWED, "Content-Type": "application/sdp"}
    params = {}
    if token_in == "header":
        headers["Authorization"] = f"Bearer {secret}"
    else:
        params["token"] = secret
    answer = client.post(STREAM, content=offer_sdp(), headers=headers, params=params)
    assert answer.status_code == 201, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED
    assert "Location" in answer.headers["access-control-expose-headers"]
    location = answer.headers["location"]
    assert location.startswith(f"{STREAM}/")
    assert secret not in location
    assert "token" not in location
    # The session's URL is its own credential: a player that had its token in the
    # query sends none on the DELETE, and a browser sends none on the preflight.
    preflight = client.options(
        location, headers={"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"}
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ALLOWED
    assert client.get(location).status_code == 200
    patch = client.patch(location, content="a=end-of-candidates\r\n")
    assert patch.status_code == 405
    ended = client.delete(location, headers={"Origin": ALLOWED})
    assert ended.status_code == 204
    assert ended.headers["access-control-allow-origin"] == ALLOWED
    assert client.get(location).status_code == 404
    assert client.delete(location).status_code == 404
    # Guessing another session's URL gets nowhere.
    assert client.delete(f"{STREAM}/{'A' * 22}").status_code == 404


def test_the_allowlist_comes_from_the_deployment(tmp_path: Path) -> None:
    toml = edited_pueblo(tmp_path)
    settings = make_settings(tmp_path, deployment=toml)
    # No lifespan needed: what CORS allows is settled when the app is built.
    default = TestClient(server_app(settings))
    answer = default.options(STREAM, headers={"Origin": ALLOWED, **PREFLIGHT})
    assert answer.status_code == 200
    assert cors_headers(answer) == {}
