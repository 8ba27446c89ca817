"""Other agencies' tools play dfr's video: two WHEP players from the npm registry
(`@eyevinn/webrtc-player`, `@binbat/whip-whep`), bundled by esbuild into a page that a
second origin serves, play a simulated drone's camera from the whole dfr server (`dfr
serve`) in headless Chromium: with a console's token and with a share link's, sent as a
Bearer header or in the WHEP URL's query, H.264 and VP8; each leaves with a DELETE on the
answer's Location. A third origin, not on the deployment's list, cannot play."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import BrowserContext, async_playwright

from tests.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.deployments import edited_pueblo
from web.video.relay import LEFT

from .dfr_server import REPO, DfrServer
from .helpers import LOOPBACK

pytestmark = pytest.mark.browser

PLAYERS = REPO / "tests" / "fixtures" / "whep_players"
ESBUILD = REPO / "node_modules" / ".bin" / "esbuild"
SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "x"}
#: Generous: the server, its simulator and encoders and Chromium share two cores.
PLAY_TIMEOUT_MS = 60_000


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass


@contextlib.contextmanager
def static_site(folder: Path) -> Iterator[str]:
    """`folder` served over HTTP on a free loopback port (an origin of its own); yields
    the origin, as a browser names it."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, name="static-site", daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@dataclass(frozen=True)
class Sites:
    allowed: str  # on the deployment's [video] cors_origins
    stranger: str  # not on it


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sites]:
    """The players' page, bundled as a new user would (esbuild), on two origins."""
    if not ESBUILD.exists():
        pytest.fail(f"{ESBUILD} is missing: run `make install` (npm ci) first")
    folder = tmp_path_factory.mktemp("players")
    built = subprocess.run(
        [
            str(ESBUILD),
            str(PLAYERS / "players.js"),
            "--bundle",
            "--format=esm",
            "--platform=browser",
            f"--outfile={folder / 'players.js'}",
            "--log-level=warning",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    shutil.copy(PLAYERS / "player.html", folder / "player.html")
    with static_site(folder) as allowed, static_site(folder) as stranger:
        yield Sites(allowed, stranger)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sites: Sites) -> Iterator[DfrServer]:
    """`dfr serve` with simulated drones, its deployment listing the allowed origin. The
    simulator flies at real speed: a drone stays on its call for the whole module."""
    folder = tmp_path_factory.mktemp("cors-deployment")
    toml = edited_pueblo(
        folder, r"^\[defaults\]$", f'[video]\ncors_origins = ["{sites.allowed}"]\n\n[defaults]'
    )
    live = DfrServer(folder / "state", deployment=toml, sim_speed_factor=1.0)
    live.start(wait_for_drones=True)
    try:
        yield live
    finally:
        live.close()


@pytest.fixture(scope="module")
def share_token(server: DfrServer) -> str:
    """A share link's token for a call that drone dfr-1 (station hq) is flying to."""
    headers = server.headers("disp")
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=30) as disp:
        call = disp.post("/api/calls", json=SCENE).json()
        sent = disp.post(f"/api/calls/{call['id']}/dispatch", json={"station_id": "hq"})
        assert sent.status_code == 200, sent.text
        link = disp.post(f"/api/calls/{call['id']}/share")
        assert link.status_code == 201, link.text
        return str(link.json()["token"])


@pytest.fixture
async def chromium(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Debian's Chromium; the test fails, never skips, when it is missing."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (make system-deps)")
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
        )
        try:
            yield context
        finally:
            await context.close()


def views_after(server: DfrServer, after_id: int) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{server.base_url}/api/video/views",
        params={"after_id": after_id},
        headers=server.headers("admin"),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return list(response.json())


def last_view_id(server: DfrServer) -> int:
    every = views_after(server, 0)
    return int(every[-1]["id"]) if every else 0


async def play(context: BrowserContext, page_url: str) -> tuple[Any, dict[str, Any], list[str]]:
    """Open the players' page; once it plays (or fails), what it reports and what the
    browser's console said."""
    page = await context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    await page.goto(page_url)
    await page.bring_to_front()  # hidden tabs do not paint, so no frame callbacks
    await page.wait_for_function(
        "window.whepTest && (whepTest.frames > 20 || whepTest.state === 'failed')",
        timeout=PLAY_TIMEOUT_MS,
    )
    report = await page.evaluate(
        """async () => ({
            state: whepTest.state, error: whepTest.error, frames: whepTest.frames,
            videoWidth: whepTest.videoWidth || 0, videoHeight: whepTest.videoHeight || 0,
            codec: whepTest.codec ? await whepTest.codec() : null,
        })"""
    )
    return page, report, console


@pytest.mark.parametrize(
    ("player", "token_kind", "token_in", "codec"),
    [
        ("eyevinn", "session", "header", "h264"),
        ("eyevinn", "share_link", "query", "vp8"),
        ("binbat", "session", "query", "vp8"),
        ("binbat", "share_link", "header", "h264"),
    ],
)
async def test_a_player_on_a_listed_origin_plays_and_leaves(
    chromium: BrowserContext,
    server: DfrServer,
    sites: Sites,
    share_token: str,
    player: str,
    token_kind: str,
    token_in: str,
    codec: str,
) -> None:
    token = share_token if token_kind == "share_link" else server.token("rtcc")
    whep = f"{server.base_url}/whep/dfr-1"
    query = {"player": player, "codec": codec}
    if token_in == "query":
        query["whep"] = f"{whep}?{urlencode({'token': token})}"
    else:
        query |= {"whep": whep, "token": token}
    before = last_view_id(server)

    page, report, console = await play(chromium, f"{sites.allowed}/player.html?{urlencode(query)}")

    assert report["state"] == "playing", (report, console, server.log_tail())
    assert (report["videoWidth"], report["videoHeight"]) == (320, 180)
    assert report["codec"] == f"video/{codec}"
    (view,) = views_after(server, before)
    assert view["stream_id"] == "dfr-1"
    assert view["principal"] == ("officer-link:disp" if token_kind == "share_link" else "rtcc")
    assert view["ended_at"] is None
    # The player leaves with a DELETE on the answer's Location, which holds no token (and
    # the player sends none when its token came in the query), across origins.
    async with page.expect_response(lambda r: r.request.method == "DELETE") as leaving:
        await page.evaluate("whepTest.stop()")
    deleted = await leaving.value
    assert deleted.url.startswith(f"{whep}/")
    assert "token" not in deleted.url
    assert (await deleted.all_headers())["access-control-allow-origin"] == sites.allowed
    async with asyncio.timeout(30):
        while (ended := views_after(server, before)[0])["ended_at"] is None:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    if player == "eyevinn":  # it hangs up after the DELETE is answered
        assert deleted.status == 204
        assert ended["end_reason"] == LEFT
    else:  # whep.js closes its connection first: the relay may have reaped the session
        assert deleted.status in (204, 404)
    await page.close()


@pytest.mark.parametrize("player", ["eyevinn", "binbat"])
async def test_a_player_on_another_origin_is_refused_by_its_browser(
    chromium: BrowserContext, server: DfrServer, sites: Sites, player: str
) -> None:
    query = {
        "player": player,
        "whep": f"{server.base_url}/whep/dfr-1",
        "token": server.token("rtcc"),
    }
    before = last_view_id(server)

    page, report, console = await play(chromium, f"{sites.stranger}/player.html?{urlencode(query)}")

    assert report["state"] == "failed", report
    assert report["videoWidth"] == 0
    assert any("CORS policy" in line for line in console), console
    assert views_after(server, before) == []  # the offer never left the browser
    await page.close()
