"""The RTCC wall in Chromium, allowed no path to the server but a TURN relay (as a phone
behind a carrier's NAT has none): the page asks dfr for its ICE servers, Chromium gets a
relay from a real coturn with the credential dfr minted, and the drones' video plays
through it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.video.turn_server import TurnServer, turn_server
from tests.web.conftest import Browser, LiveServer, running_server
from tests.web.test_consoles import wait_for_video

pytestmark = pytest.mark.browser

#: Every peer connection the page makes may use only TURN relays; each is kept for the test.
RELAY_ONLY = """(() => {
    const Native = window.RTCPeerConnection;
    window.peerConnections = [];
    window.RTCPeerConnection = function (configuration = {}) {
        const pc = new Native({ ...configuration, iceTransportPolicy: "relay" });
        window.peerConnections.push({ pc, iceServers: configuration.iceServers || [] });
        return pc;
    };
    window.RTCPeerConnection.prototype = Native.prototype;
})();"""

#: The local candidate type of each connected peer connection's selected pair.
SELECTED_PAIRS = """async () => {
    const out = [];
    for (const { pc } of window.peerConnections) {
        if (pc.connectionState !== "connected") continue;
        const stats = [...(await pc.getStats()).values()];
        const pair = stats.find(
            (s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
        const local = pair && stats.find((s) => s.id === pair.localCandidateId);
        out.push(local ? local.candidateType : null);
    }
    return out;
}"""


@pytest.fixture(scope="module")
def turn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TurnServer]:
    with turn_server(tmp_path_factory.mktemp("turn")) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, turn: TurnServer) -> Iterator[LiveServer]:
    with running_server(
        tmp_path_factory.mktemp("dfr-turn"),
        video_turn_urls=[turn.url],
        video_turn_secret=turn.secret,
    ) as live:
        yield live


def test_the_wall_plays_through_turn_alone(
    browser: Browser, server: LiveServer, turn: TurnServer
) -> None:
    browser.context.add_init_script(RELAY_ONLY)
    page = browser.new_page()
    browser.login(page, "rtcc")
    page.click("[data-console=wall]")
    page.wait_for_selector("#conn[data-state=live]")
    drone_id = server.api("GET", "/api/stations")[0]["drone"]["id"]
    wait_for_video(page, server, drone_id, f".wall-tile[data-drone-id='{drone_id}'] video")
    configured: list[Any] = page.evaluate("() => window.peerConnections.map((p) => p.iceServers)")
    assert configured
    for servers in configured:
        (turn_entry,) = servers
        assert turn_entry["urls"] == [turn.url]
        assert turn_entry["username"].endswith(":rtcc")
    selected = page.evaluate(SELECTED_PAIRS)
    assert selected
    assert set(selected) == {"relay"}, selected
    browser.screenshot(page, "wall-through-turn")
    browser.assert_clean()
