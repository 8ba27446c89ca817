"""Who watched which drone's live video, from when to when, and at most N viewers per token:
the whole server (`dfr serve`) in a process of its own, real aiortc viewers in this one,
and the server's own SQLite file read back after it stopped or crashed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from dfr.store import Store, VideoViewRecord
from dfr.video_views import ENDED_BY_RESTART, NO_LONGER_ALLOWED, SERVER_STOPPED
from web.video.relay import LEFT
from web.video.whep_client import WhepViewer

from .dfr_server import DfrServer, dispatched_and_shared
from .helpers import LOOPBACK

MAX_VIEWERS = 2
SDP = {"Content-Type": "application/sdp"}
#: Time for a viewer to connect and get its first frame: generous, for a machine whose two
#: cores the server, its simulator and encoders share with other tests.
JOIN_TIMEOUT_S = 60.0

pytestmark = pytest.mark.usefixtures("loopback_ice")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DfrServer]:
    live = DfrServer(tmp_path_factory.mktemp("views"), max_viewers_per_token=MAX_VIEWERS)
    live.start(wait_for_drones=True)
    try:
        yield live
    finally:
        live.close()


@pytest.fixture
async def admin(server: DfrServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = server.headers("admin")
    async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=30) as c:
        yield c


def as_(server: DfrServer, name: str) -> httpx.AsyncClient:
    """A client signed in as `name` (one session: one token)."""
    headers = server.headers(name)
    return httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=JOIN_TIMEOUT_S)


async def views(admin: httpx.AsyncClient, after_id: int = 0, **params: int) -> list[dict]:
    response = await admin.get("/api/video/views", params={"after_id": after_id, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def last_view_id(admin: httpx.AsyncClient) -> int:
    every = await views(admin)
    return every[-1]["id"] if every else 0


async def audit(admin: httpx.AsyncClient, action: str) -> list[dict]:
    entries = (await admin.get("/api/audit", params={"limit": 5000})).json()
    return [e for e in entries if e["action"] == action]


async def watch(url: str, client: httpx.AsyncClient) -> WhepViewer:
    """A viewer of `url` that is connected: it has its first frame."""
    viewer = WhepViewer(url, timeout_s=JOIN_TIMEOUT_S)
    await viewer.connect(client)
    async with asyncio.timeout(JOIN_TIMEOUT_S):
        await viewer.first_frame.wait()
    return viewer


async def offer() -> tuple[RTCPeerConnection, str]:
    """A viewer's offer, for requests whose answer the test reads itself."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def airborne(disp: httpx.AsyncClient, sortie_id: int) -> None:
    """Until the sortie has taken off: a return is a command for a drone in the air (on
    the dock, the pilot aborts instead)."""
    async with asyncio.timeout(JOIN_TIMEOUT_S):
        while (await disp.get(f"/api/sorties/{sortie_id}")).json()["state"] == "launching":  # noqa: ASYNC110
            await asyncio.sleep(0.2)


def officer_on(server: DfrServer, link: dict) -> httpx.AsyncClient:
    """A client with the officer's share link."""
    headers = {"Authorization": f"Bearer {link['token']}"}
    return httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=JOIN_TIMEOUT_S)


async def test_a_view_is_recorded_from_when_to_when(server, admin) -> None:
    before = await last_view_id(admin)
    async with as_(server, "rtcc") as rtcc:
        viewer = await watch(f"{server.base_url}/whep/dfr-2", rtcc)
        (watching,) = await views(admin, before)
        assert watching["principal"] == "rtcc"
        assert watching["role"] == "rtcc"
        assert watching["stream_id"] == "dfr-2"
        assert watching["address"] == LOOPBACK
        assert watching["share_link_id"] is None
        assert watching["ended_at"] is None
        await viewer.close(rtcc)  # WHEP DELETE: answered once the view is ended
        (ended,) = await views(admin, before)
        assert ended["end_reason"] == LEFT
        assert ended["ended_at"] >= ended["started_at"]

        gone = await watch(f"{server.base_url}/whep/dfr-2", rtcc)
        gone.session_url = None  # hangs up without a DELETE: the relay notices
        await gone.close(rtcc)

        async def its_end() -> str | None:
            return (await views(admin, ended["id"]))[0]["end_reason"]

        async with asyncio.timeout(JOIN_TIMEOUT_S):
            while (reason := await its_end()) is None:  # noqa: ASYNC110 - a server's state
                await asyncio.sleep(0.2)
        assert reason.startswith("the viewer's connection")
    starts = {e["details"]["view_id"]: e for e in await audit(admin, "video.view.start")}
    ends = {e["details"]["view_id"]: e for e in await audit(admin, "video.view.end")}
    for view_id in (ended["id"], ended["id"] + 1):
        assert starts[view_id]["actor"] == "rtcc"
        assert starts[view_id]["subject"] == "stream:dfr-2"
        assert starts[view_id]["details"]["address"] == LOOPBACK
        assert ends[view_id]["actor"] == "rtcc"
    assert ends[ended["id"]]["details"]["reason"] == LEFT


async def test_an_officer_view_names_its_link_call_and_sortie(server, admin) -> None:
    before = await last_view_id(admin)
    async with as_(server, "disp") as disp, as_(server, "rtcc") as rtcc:
        call, sortie_id, link = await dispatched_and_shared(disp, "hq")
        async with officer_on(server, link) as officer:
            phone = await watch(f"{server.base_url}/whep/dfr-1", officer)
            wall = await watch(f"{server.base_url}/whep/dfr-1", rtcc)
            idle = await watch(f"{server.base_url}/whep/dfr-3", rtcc)
            pc, sdp = await offer()
            elsewhere = await officer.post("/whep/dfr-3", content=sdp, headers=SDP)
            await pc.close()
            assert elsewhere.status_code == 403
            for viewer, client in ((phone, officer), (wall, rtcc), (idle, rtcc)):
                await viewer.close(client)
        mine = await views(admin, before)
        by_stream = {(v["principal"], v["stream_id"]): v for v in mine}
        seen = by_stream[("officer-link:disp", "dfr-1")]
        assert seen["role"] == "officer"
        assert seen["share_link_id"] == link["id"]
        assert (seen["call_id"], seen["sortie_id"]) == (call["id"], sortie_id)
        assert by_stream[("rtcc", "dfr-1")]["sortie_id"] == sortie_id
        assert by_stream[("rtcc", "dfr-3")]["sortie_id"] is None
        dfr_1 = {by_stream[k]["id"] for k in (("officer-link:disp", "dfr-1"), ("rtcc", "dfr-1"))}
        of_sortie = await views(admin, before, sortie_id=sortie_id)
        of_call = await views(admin, before, call_id=call["id"])
        assert {v["id"] for v in of_sortie} == dfr_1
        assert {v["id"] for v in of_call} == dfr_1
        # Only the RTCC and admins read who watched; of a sortie or a call, not both.
        assert (await disp.get("/api/video/views")).status_code == 403
        both = await admin.get("/api/video/views", params={"sortie_id": 1, "call_id": 1})
        assert both.status_code == 422
        assert both.json()["detail"][0]["loc"] == ["query", "call_id"]
        await airborne(disp, sortie_id)
        home = await disp.post("/api/drones/dfr-1/commands", json={"command": "return"})
        assert home.status_code == 200, home.text
    denied = await audit(admin, "access.denied")
    assert any(
        e["actor"] == "officer-link:disp"
        and e["subject"] == "POST /whep/dfr-3"
        and e["reason"] == elsewhere.json()["detail"]
        for e in denied
    )


async def test_an_officer_stops_watching_once_the_drone_leaves_the_call(server, admin) -> None:
    """Admission is checked at the offer; the server hangs up on the officer's link when
    the drone's sortie for the call ends, while the RTCC's wall keeps watching."""
    before = await last_view_id(admin)
    async with as_(server, "disp") as disp, as_(server, "rtcc") as rtcc:
        _, sortie_id, link = await dispatched_and_shared(disp, "bessemer")
        async with officer_on(server, link) as officer:
            phone = await watch(f"{server.base_url}/whep/dfr-2", officer)
            wall = await watch(f"{server.base_url}/whep/dfr-2", rtcc)
            await airborne(disp, sortie_id)
            home = await disp.post("/api/drones/dfr-2/commands", json={"command": "return"})
            assert home.status_code == 200, home.text

            async def view_of(principal: str) -> dict:
                mine = [v for v in await views(admin, before) if v["principal"] == principal]
                return mine[-1]

            async with asyncio.timeout(240.0):
                while (await view_of("officer-link:disp"))["ended_at"] is None:  # noqa: ASYNC110
                    await asyncio.sleep(0.5)
            ended = await view_of("officer-link:disp")
            assert ended["end_reason"] == NO_LONGER_ALLOWED
            state = (await disp.get(f"/api/sorties/{sortie_id}")).json()["state"]
            assert state in ("docked", "landed"), state
            assert (await view_of("rtcc"))["ended_at"] is None  # the wall watches on
            pc, sdp = await offer()
            again = await officer.post("/whep/dfr-2", content=sdp, headers=SDP)
            await pc.close()
            assert again.status_code == 403
            await wall.close(rtcc)
            # The phone's own DELETE, a moment late, is answered as done (not 404).
            assert phone.session_url is not None
            left = await officer.delete(phone.session_url)
            assert left.status_code == 204, left.text
            again_left = await officer.delete(f"{server.base_url}/whep/dfr-2/no-such-session")
            assert again_left.status_code == 404
            phone.session_url = None
            await phone.close(officer)


async def test_one_token_holds_at_most_n_viewers(server, admin) -> None:
    url = f"{server.base_url}/whep/dfr-3"
    before = await last_view_id(admin)
    async with as_(server, "rtcc") as rtcc, as_(server, "rtcc") as other_session:
        viewers = [await watch(url, rtcc) for _ in range(MAX_VIEWERS)]
        pc, sdp = await offer()
        refused = await rtcc.post("/whep/dfr-3", content=sdp, headers=SDP)
        await pc.close()
        assert refused.status_code == 429
        detail = refused.json()["detail"]
        assert detail == (
            f"this session already has {MAX_VIEWERS} video viewers open: close one first"
        )
        # Another session of the same user has slots of its own.
        elsewhere = await watch(url, other_session)
        await viewers.pop().close(rtcc)
        again = await watch(url, rtcc)  # a slot is free again
        for viewer in (*viewers, again):
            await viewer.close(rtcc)
        await elsewhere.close(other_session)
    recorded = await views(admin, before)
    assert len(recorded) == MAX_VIEWERS + 2  # the refused offer is no view
    assert all(v["ended_at"] is not None for v in recorded)
    refusals = [e for e in await audit(admin, "video.view.start") if e["outcome"] == "refused"]
    assert refusals[-1]["reason"] == detail
    assert refusals[-1]["subject"] == "stream:dfr-3"


async def test_views_end_when_the_server_stops_or_at_the_start_after_a_crash(tmp_path) -> None:
    first = DfrServer(tmp_path / "state")
    try:
        await asyncio.to_thread(first.start)
        async with as_(first, "rtcc") as rtcc:
            viewer = await watch(f"{first.base_url}/whep/dfr-1", rtcc)
            await asyncio.to_thread(first.crash)
            await viewer.close(None)
    finally:
        await asyncio.to_thread(first.close)
    (left_open,) = await stored_views(first.database)
    assert left_open.ended_at is None

    second = DfrServer(tmp_path / "state")
    try:
        await asyncio.to_thread(second.start)
        async with as_(second, "rtcc") as rtcc:
            viewer = await watch(f"{second.base_url}/whep/dfr-2", rtcc)
            crashed, watching = await stored_views(second.database)
            assert (crashed.id, crashed.end_reason) == (left_open.id, ENDED_BY_RESTART)
            assert crashed.ended_at is not None
            assert watching.ended_at is None
            await asyncio.to_thread(second.stop)
            await viewer.close(None)
    finally:
        await asyncio.to_thread(second.close)
    _, stopped = await stored_views(second.database)
    assert (stopped.id, stopped.end_reason) == (watching.id, SERVER_STOPPED)
    assert stopped.ended_at is not None
    async with Store.open(second.database) as store:
        ends = [e for e in await store.audit_log(limit=5000) if e.action == "video.view.end"]
    assert [(e.details["view_id"], e.details["reason"]) for e in ends] == [
        (crashed.id, ENDED_BY_RESTART),
        (stopped.id, SERVER_STOPPED),
    ]


async def stored_views(database: Path) -> list[VideoViewRecord]:
    async with Store.open(database) as store:
        return await store.video_views()
