"""TAK out through pytak to TAK-like listeners on 127.0.0.1, fed by a real event bus:
TLS with a client certificate (its key encrypted, the passphrase from the settings),
TCP and UDP; a server that refuses dfr's certificate, one dfr refuses, one that is down
at start: the sender keeps trying and delivers once it can. Multicast (ATAK's
udp://239.2.3.1:6969) is not exercised: the tests send to loopback addresses only, so
UDP is tested unicast to 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dfr.deployment import TakSettings
from dfr.events import Event, EventBus
from dfr.loopback import free_tcp_port
from dfr.store import CallRecord
from dfr.tak_link import Outbox, TakLinkSettings, TakLinkStatus
from dfr.tak_out import TakOut
from tests.pki import Pki, make_pki
from tests.tak.tak_listener import (
    Received,
    server_context,
    stream_listener,
    udp_listener,
)

FAST = TakLinkSettings(reconnect_min_s=0.05, reconnect_max_s=0.3, connect_timeout_s=5.0)
RTSP = "rtsp://video.example.org:8554/live/dfr-1"
TIMEOUT_S = 20.0


async def no_calls() -> Sequence[CallRecord]:
    return []


def drone(lat: float, lon: float) -> dict[str, object]:
    return {
        "id": "dfr-1",
        "station_id": "hq",
        "online": True,
        "docked": False,
        "latitude_deg": lat,
        "longitude_deg": lon,
        "altitude_amsl_m": 1490.5,
        "heading_deg": 80.0,
        "ground_speed_m_s": 12.0,
        "course_deg": 90.0,
        "battery_pct": 88.0,
        "sortie_id": 4,
        "sortie_state": "en_route",
        "call_id": 7,
    }


def telemetry(lat: float, lon: float) -> Event:
    at = datetime.now(UTC).isoformat(timespec="milliseconds")
    return Event("telemetry", {"at": at, "drones": [drone(lat, lon)]})


async def keep_publishing(bus: EventBus, hz: float = 4.0) -> None:
    """Telemetry as dfr pushes it, the drone creeping north, until cancelled."""
    step = 0
    while True:
        bus.publish(telemetry(38.2544 + step * 1.234567e-6, -104.6091))
        step += 1
        await asyncio.sleep(1.0 / hz)


@asynccontextmanager
async def sending(settings: TakSettings, link: TakLinkSettings = FAST) -> AsyncIterator[TakOut]:
    bus = EventBus()
    async with TakOut.running(settings, link, bus, no_calls, "Test PD") as tak:
        publisher = asyncio.create_task(keep_publishing(bus))
        try:
            yield tak
        finally:
            publisher.cancel()
            await asyncio.gather(publisher, return_exceptions=True)


def tls(port: int, pki: Pki, **overrides: object) -> TakSettings:
    values: dict[str, object] = {
        "url": f"tls://127.0.0.1:{port}",
        "client_cert": pki.client_cert,
        "client_key": pki.client_key,
        "ca_cert": pki.ca_cert,
        "uid_prefix": "test",
        "video_rtsp": {"dfr-1": RTSP},
    }
    values.update(overrides)
    return TakSettings(**values)  # type: ignore[arg-type]


def is_track(r: Received) -> bool:
    return r.type == "a-f-A-M-H-Q"


async def test_tracks_reach_a_tls_server_that_demands_a_client_certificate(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, key_passphrase="pass%phrase")
    async with stream_listener(context=server_context(pki)) as listener:
        link = TakLinkSettings(key_passphrase="pass%phrase", reconnect_min_s=0.05)
        async with sending(tls(listener.port, pki), link) as tak:
            tracks = await listener.wait_for("tracks over TLS", is_track, TIMEOUT_S, count=3)
            assert tak.status.connected
    first = tracks[0]
    assert first.uid == "test.drone.dfr-1"
    assert (first.time("stale") - first.time()).total_seconds() == pytest.approx(5.0)
    video = first.event.find("detail/__video")
    assert video is not None
    assert video.get("url") == RTSP
    assert listener.malformed == 0
    # At most one track a second (telemetry comes at 4 Hz).
    times = [r.time() for r in tracks]
    assert all((b - a).total_seconds() >= 0.85 for a, b in zip(times, times[1:], strict=False))


async def test_tcp_and_udp_servers_get_the_same_events() -> None:
    async with stream_listener() as tcp, udp_listener() as udp:
        tcp_settings = TakSettings(url=f"tcp://127.0.0.1:{tcp.port}", uid_prefix="test")
        udp_settings = TakSettings(url=f"udp://127.0.0.1:{udp.port}", uid_prefix="test")
        async with sending(tcp_settings), sending(udp_settings):
            over_tcp = await tcp.wait_for("tracks over TCP", is_track, TIMEOUT_S, count=2)
            over_udp = await udp.wait_for("tracks over UDP", is_track, TIMEOUT_S, count=2)
    for received in (over_tcp[0], over_udp[0]):
        lat, lon = received.point()
        assert abs(lat - 38.2544) < 1e-3
        assert abs(lon - -104.6091) < 1e-6
        assert received.event.find("detail/__video") is None  # no video_rtsp given


async def test_a_server_that_refuses_dfr_s_certificate_gets_nothing_until_it_takes_it(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "ours", "ours")
    stranger = make_pki(tmp_path / "theirs", "theirs")
    port = free_tcp_port()
    async with sending(tls(port, pki)) as tak:
        refusing = server_context(pki, client_ca=stranger.ca_cert)
        async with stream_listener(port, refusing) as listener:
            await until(lambda: tak.status.attempts >= 2, "two attempts refused")
            assert listener.events == []
            assert listener.connections == 0
            assert tak.status.last_error is not None
        async with stream_listener(port, server_context(pki)) as accepting:
            await accepting.wait_for("tracks once accepted", is_track, TIMEOUT_S)


async def test_dfr_refuses_a_server_whose_certificate_its_ca_did_not_sign(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "ours", "ours")
    impostor = make_pki(tmp_path / "impostor", "impostor")
    context = server_context(impostor, client_ca=pki.ca_cert)
    async with (
        stream_listener(context=context) as listener,
        sending(tls(listener.port, pki)) as tak,
    ):
        await until(lambda: tak.status.last_error is not None, "a refused server")
        assert "does not verify against [tak] ca_cert" in (tak.status.last_error or "")
        assert listener.events == []
        assert tak.status.connections == 0


async def test_a_server_down_at_start_gets_the_picture_once_it_is_up(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    port = free_tcp_port()
    async with sending(tls(port, pki)) as tak:
        await until(lambda: tak.status.last_error is not None, "a refused connection")
        assert not tak.status.connected
        async with stream_listener(port, server_context(pki)) as listener:
            await listener.wait_for("tracks after the server came up", is_track, TIMEOUT_S)
            assert tak.status.connected


async def until(predicate, what: str, timeout_s: float = TIMEOUT_S) -> None:  # noqa: ANN001
    try:
        async with asyncio.timeout(timeout_s):
            while not predicate():  # noqa: ASYNC110 - plain state, nothing to await
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"{what}: not within {timeout_s:g} s") from None


async def test_the_outbox_drops_the_oldest_tracks_first_and_tracks_gone_stale() -> None:
    status = TakLinkStatus()
    outbox = Outbox(3, status)
    outbox.put(b"track-1", track=True, stale_s=60.0)
    outbox.put(b"marker", track=False)
    outbox.put(b"track-2", track=True, stale_s=60.0)
    outbox.put(b"track-3", track=True, stale_s=60.0)  # full: track-1 goes
    assert status.dropped == 1
    assert [await outbox.get() for _ in range(3)] == [b"marker", b"track-2", b"track-3"]
    outbox.put(b"old track", track=True, stale_s=0.001)
    outbox.put(b"marker 2")
    await asyncio.sleep(0.01)
    assert await outbox.get() == b"marker 2"  # the track went stale waiting
    assert status.dropped == 2
    assert status.sent == 4


async def test_a_full_outbox_of_markers_loses_the_oldest_marker() -> None:
    status = TakLinkStatus()
    outbox = Outbox(2, status)
    for name in (b"a", b"b", b"c"):
        outbox.put(name)
    assert [await outbox.get(), await outbox.get()] == [b"b", b"c"]
