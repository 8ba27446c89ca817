"""Viewers who cannot reach the relay directly (an officer's phone behind a carrier's NAT)
watch through a TURN server: dfr mints each viewer a credential the TURN server checks on
its own, and a viewer that may use nothing but the TURN relay still gets the drone's
video. A real coturn and the whole server (`dfr serve`) in processes of their own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
)

from web.video.ice_servers import IceServers
from web.video.whep_client import WhepViewer

from .dfr_server import DfrServer, dispatched_and_shared
from .turn_server import TurnServer, turn_server

JOIN_TIMEOUT_S = 60.0


pytestmark = pytest.mark.usefixtures("loopback_ice")


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnServer]:
    with turn_server(tmp_path_factory.mktemp("turn")) as server:
        yield server


def relay_only(servers: list[dict]) -> RTCConfiguration:
    """A peer that may use nothing but the TURN server's relay: no direct path."""
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(s["urls"], s.get("username"), s.get("credential")) for s in servers
        ],
        iceTransportPolicy=RTCIceTransportPolicy.RELAY,
    )


async def relay_candidates(servers: IceServers, who: str, now_s: float | None = None) -> list[str]:
    """The relay candidates a peer with `servers`' credential for `who` gets from TURN."""
    pc = RTCPeerConnection(relay_only([s.as_json() for s in servers.for_peer(who, now_s)]))
    try:
        pc.addTransceiver("video", direction="recvonly")
        await pc.setLocalDescription(await pc.createOffer())
        sdp = pc.localDescription.sdp
    finally:
        await pc.close()
    return [
        line for line in sdp.splitlines() if line.startswith("a=candidate") and "typ relay" in line
    ]


async def test_the_turn_server_takes_dfrs_credentials_until_they_expire(turn: TurnServer) -> None:
    servers = IceServers(turn_urls=(turn.url,), turn_secret=turn.secret, credential_ttl_s=600.0)
    assert await relay_candidates(servers, "officer-link:disp")
    stale = await relay_candidates(servers, "rtcc", now_s=0.0)  # expired in 1970
    assert stale == []
    forged = IceServers(turn_urls=(turn.url,), turn_secret="not-the-shared-secret")
    assert await relay_candidates(forged, "rtcc") == []
    assert "Cannot find credentials" in turn.log()  # refused by the TURN server itself


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, turn: TurnServer) -> Iterator[DfrServer]:
    live = DfrServer(
        tmp_path_factory.mktemp("turn-views"),
        video_turn_urls=json.dumps([turn.url]),
        video_turn_secret=turn.secret,
        video_turn_credential_ttl_s=900,
    )
    live.start(wait_for_drones=True)
    try:
        yield live
    finally:
        live.close()


async def test_an_officer_behind_nat_watches_through_turn(server: DfrServer) -> None:
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers("disp"), timeout=JOIN_TIMEOUT_S
    ) as disp:
        _, _, link = await dispatched_and_shared(disp)
    officer_headers = {"Authorization": f"Bearer {link['token']}"}
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=officer_headers, timeout=JOIN_TIMEOUT_S
    ) as officer:
        asked = await officer.get("/api/video/ice-servers")
        assert asked.status_code == 200, asked.text
        (servers,) = asked.json()
        assert servers["urls"][0].startswith("turn:")
        assert servers["username"].endswith(":officer-link:disp")

        phone = WhepViewer(
            f"{server.base_url}/whep/dfr-1",
            timeout_s=JOIN_TIMEOUT_S,
            configuration=relay_only([servers]),
        )
        try:
            await phone.connect(officer)
            async with asyncio.timeout(JOIN_TIMEOUT_S):
                await phone.first_frame.wait()
            assert phone.offer_sdp is not None
            offered = [
                line for line in phone.offer_sdp.splitlines() if line.startswith("a=candidate")
            ]
            assert offered
            assert all("typ relay" in line for line in offered)  # no way in but TURN
            (links,) = phone.links
            assert 'rel="ice-server"' in links
            assert 'credential-type="password"' in links
        finally:
            await phone.close(officer)
    async with httpx.AsyncClient(base_url=server.base_url) as nobody:
        assert (await nobody.get("/api/video/ice-servers")).status_code == 401
