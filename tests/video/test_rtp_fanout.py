"""The relay's sending loop (`RtpFanout`) against real aiortc viewers over loopback:
what aiortc's own sender did per viewer must still happen when one loop sends for all."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from fastapi import FastAPI

from web.video import rtp_fanout
from web.video.rtp_fanout import MAX_UNSENT_BYTES, ntp_time

from .helpers import HTTP_TIMEOUT_S, services, until, watch


def test_ntp_time_is_the_wall_clock() -> None:
    seconds = ntp_time() / (1 << 32) - 2_208_988_800
    assert abs(seconds - time.time()) < 0.1


# The first sequence number is random: try a low one, one in the upper half, and
# one that wraps around within the first frames.
FIRST_SEQUENCE_NUMBERS = pytest.mark.parametrize(
    "first_sequence", [100, 40_000, 65_500], indirect=True
)


@pytest.fixture
def first_sequence(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(rtp_fanout, "first_sequence_number", lambda: request.param)
    return int(request.param)


@FIRST_SEQUENCE_NUMBERS
@pytest.mark.usefixtures("first_sequence")
async def test_a_lost_packet_is_retransmitted_from_the_shared_history(
    video_server: tuple[str, FastAPI],
) -> None:
    base_url, _ = video_server
    url = f"{base_url}/whep/drone-1"
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
        # A second viewer of the same stream: they share packets and history.
        other = await watch(url, client, codec="h264")
        lossy = await watch(url, client, codec="h264", decode=True, lose_packets=3)
        await until(lambda: lossy.report.packets_withheld == 3)
        await until(lambda: lossy.report.retransmissions >= 3)
        decoded = lossy.report.decoded_frames
        await asyncio.sleep(0.5)
        assert lossy.report.decoded_frames > decoded
        assert other.report.retransmissions == 0
        await lossy.close(client)
        await other.close(client)


async def test_sender_reports_tell_what_was_sent(video_server: tuple[str, FastAPI]) -> None:
    base_url, _ = video_server
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
        viewer = await watch(f"{base_url}/whep/drone-1", client, decode=True)
        # aiortc sends a report every 0.5 to 1.5 s.
        await asyncio.sleep(3.2)
        report = await viewer.sender_report()
        assert report is not None
        assert report["packetsSent"] > 30
        assert report["bytesSent"] > report["packetsSent"] * 100
        assert report["packetsSent"] <= viewer.report.packets + 60
        age_s = time.time() - report["remoteTimestamp"].timestamp()
        assert -0.5 < age_s < 2.0
        await viewer.close(client)


@pytest.mark.parametrize("first_sequence", [100, 65_500], indirect=True)
@pytest.mark.usefixtures("first_sequence")
async def test_a_viewer_that_cannot_keep_up_skips_to_a_keyframe_alone(
    video_server: tuple[str, FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    base_url, app = video_server
    relay = services(app).relay
    url = f"{base_url}/whep/drone-1"
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as client:
        steady = await watch(url, client)
        slow = await watch(url, client, decode=True)
        (slow_session,) = [s for s in relay.sessions() if s.session_id in slow.session_url]
        # Its socket backs up (as behind a congested link): unsent bytes pile up.
        lane = relay._sessions[slow_session.session_id].lane  # noqa: SLF001
        assert lane is not None
        transport = lane._ice_connection._nominated[1].protocol.transport  # noqa: SLF001
        monkeypatch.setattr(transport, "get_write_buffer_size", lambda: MAX_UNSENT_BYTES + 1)
        steady_frames = steady.report.frames
        await asyncio.sleep(0.5)
        dropped = {s.session_id: s.frames_dropped for s in relay.sessions()}
        assert dropped[slow_session.session_id] >= 10
        assert sum(dropped.values()) == dropped[slow_session.session_id]
        # Meanwhile the other viewer got every frame (none dropped, none lost, below).
        assert steady.report.frames > steady_frames
        # Once it drains, it resumes from a keyframe and decodes again.
        monkeypatch.undo()
        decoded = slow.report.decoded_frames
        await until(lambda: slow.report.decoded_frames > decoded + 10)
        # Its sequence numbers ran on without a gap: nothing to report lost or ask again.
        assert slow.report.packets_lost == 0
        assert slow.report.retransmissions == 0
        assert steady.report.packets_lost == 0
        await slow.close(client)
        await steady.close(client)
