"""TAK out from a real dfr: the operations service over the built-in simulator (real
MAVSDK links, real SQLite), `[tak]` pointing at a TAK-like TLS listener on 127.0.0.1
that demands a client certificate. A dispatched drone's track arrives about once a
second with the type, stale time and positions of dfr's own telemetry (to a millionth
of a degree), its __video carries the configured RTSP URL, the call's marker and the
camera's point of interest arrive and go when the sortie and the call end; a TAK
server that is down at start, then refuses dfr's certificate, never stops a flight,
and gets the picture once it takes the certificate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from dfr.auth import Principal, Role
from dfr.deployment import Deployment, TakSettings, load_deployment
from dfr.events import Event
from dfr.loopback import free_tcp_port
from dfr.operations import Operations
from dfr.services import open_services
from dfr.settings import Settings
from dfr.store import NewCall
from tests import simulator
from tests.flight.conftest import eventually, wall_s
from tests.pki import Pki, make_pki
from tests.tak.tak_listener import Received, server_context, stream_listener

DISPATCHER = Principal("disp", Role.DISPATCHER)
RTSP = "rtsp://video.example.org:8554/live/dfr-1"
SCENE = (38.2612345, -104.6123456)  # near station hq, whose drone is dfr-1
NOTE = 'caller: man with a <knife> & "a dog"'
GEOID_HEIGHT_M = -20.5  # EGM96 geoid height, roughly that of Colorado


def with_tak(pki: Pki, port: int) -> Deployment:
    tak = TakSettings(
        url=f"tls://127.0.0.1:{port}",
        client_cert=pki.client_cert,
        client_key=pki.client_key,
        ca_cert=pki.ca_cert,
        uid_prefix="test",
        video_rtsp={"dfr-1": RTSP},
        geoid_height_m=GEOID_HEIGHT_M,
    )
    return replace(load_deployment(), tak=tak)


@asynccontextmanager
async def operations(tmp_path: Path, deployment: Deployment) -> AsyncIterator[Operations]:
    users = tmp_path / "users.toml"
    users.write_text("# no users\n")
    settings = Settings(
        state_dir=tmp_path / "state",
        users_file=users,
        secret_key="test",
        tak_reconnect_min_s=0.1,
        tak_reconnect_max_s=0.5,
    )
    async with (
        open_services(settings, deployment, simulator.InProcessVehicles()) as services,
        Operations.running(services, settings) as ops,
    ):
        yield ops


class Telemetry:
    """Every drone position dfr's consoles got, by (time, drone)."""

    def __init__(self) -> None:
        self.positions: dict[tuple[datetime, str], dict[str, object]] = {}

    async def record(self, events: asyncio.Queue[Event]) -> None:
        while True:
            event = await events.get()
            if event.kind == "telemetry":
                at = datetime.fromisoformat(event.data["at"])
                for drone in event.data["drones"]:
                    self.positions[(at, drone["id"])] = drone


def track_of(drone_id: str, *states: str):  # noqa: ANN201 - a predicate
    def matches(r: Received) -> bool:
        remarks = r.event.findtext("detail/remarks") or ""
        return (
            r.type == "a-f-A-M-H-Q"
            and r.uid == f"test.drone.{drone_id}"
            and (not states or any(f" {s} " in remarks for s in states))
        )

    return matches


async def test_a_dispatched_drone_its_call_and_its_camera_reach_the_tak_server(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "pki")
    telemetry = Telemetry()
    async with (
        stream_listener(context=server_context(pki)) as tak,
        operations(tmp_path, with_tak(pki, port=tak.port)) as ops,
    ):
        with ops.bus.subscribe() as feed:
            recorder = asyncio.create_task(telemetry.record(feed))
            await ops.wait_docks_prepared(wall_s(60.0))
            call = await ops.calls.create_call(NewCall(*SCENE, 2, "manual", NOTE), "disp")
            await ops.dispatch(call.id, DISPATCHER, "hq")
            flying = await tak.wait_for(
                "dfr-1's tracks in flight", track_of("dfr-1", "en_route", "on_scene"), 60, 4
            )
            poi = await tak.wait_for(
                "dfr-1's camera", lambda r: r.uid == "test.poi.dfr-1", wall_s(30.0)
            )
            marker = await tak.wait_for(
                "the call's marker", lambda r: r.uid == f"test.call.{call.id}", 10.0
            )
            await ops.calls.close_call(call.id, "disp")
            await tak.wait_for("the call's delete", lambda r: r.type == "t-x-d-d", 10.0)
            await tak.wait_for(
                "the camera's delete",
                lambda r: (
                    r.type == "t-x-d-d"
                    and r.event.find("detail/link").get("uid") == "test.poi.dfr-1"
                ),  # type: ignore[union-attr]
                wall_s(700.0),
            )
            recorder.cancel()

    # Tracks: the type, stale 5 s after, never more than one a second (by their own
    # clock, which is the telemetry's), and where dfr's telemetry said the drone was.
    recorded_from = min(at for at, _ in telemetry.positions)
    tracks = tak.of(track_of("dfr-1"))
    compared = [t for t in tracks if t.time() >= recorded_from]
    assert len(compared) >= len(flying)
    for track in compared:
        assert track.type == "a-f-A-M-H-Q"
        assert track.event.get("how") == "m-g"
        assert (track.time("stale") - track.time()).total_seconds() == 5.0
        sample = telemetry.positions[(track.time(), "dfr-1")]
        lat, lon = track.point()
        assert abs(lat - sample["latitude_deg"]) <= 1e-6  # type: ignore[operator]
        assert abs(lon - sample["longitude_deg"]) <= 1e-6  # type: ignore[operator]
        point = track.event.find("point")
        assert point is not None
        # Height above the ellipsoid: the vehicle's above mean sea level, plus the geoid's.
        hae = float(point.get("hae", "nan"))
        assert abs(hae - (sample["altitude_amsl_m"] + GEOID_HEIGHT_M)) < 0.01  # type: ignore[operator]
        video = track.event.find("detail/__video")
        assert video is not None
        assert video.get("url") == RTSP
        entry = video.find("ConnectionEntry")
        assert entry is not None
        assert (entry.get("address"), entry.get("port"), entry.get("path")) == (
            "video.example.org",
            "8554",
            "/live/dfr-1",
        )
    times = [t.time() for t in tracks]
    gaps = [(b - a).total_seconds() for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.85, gaps
    assert len(flying) >= 4
    assert any(float(t.event.find("detail/track").get("speed")) > 1.0 for t in flying)  # type: ignore[union-attr,arg-type]
    # The other drones, on their docks, are tracked too (without video).
    assert tak.of(track_of("dfr-2"))
    assert all(t.event.find("detail/__video") is None for t in tak.of(track_of("dfr-2")))

    # The call's marker: where the call is, with its note as written.
    first = marker[0]
    assert first.type == "b-m-p-s-m"
    lat, lon = first.point()
    assert abs(lat - SCENE[0]) <= 1e-6
    assert abs(lon - SCENE[1]) <= 1e-6
    assert NOTE in (first.event.findtext("detail/remarks") or "")
    assert (first.time("stale") - first.time()).total_seconds() == 600.0
    closing = [r for r in tak.of(lambda r: r.uid == f"test.call.{call.id}")][-1]
    assert closing.time("stale") == closing.time()
    (delete,) = tak.of(
        lambda r: (
            r.type == "t-x-d-d" and r.event.find("detail/link").get("uid") == f"test.call.{call.id}"
        )  # type: ignore[union-attr]
    )
    assert delete.event.find("detail/__forcedelete") is not None

    # The camera's point of interest: the scene, linked to the drone's track.
    lat, lon = poi[0].point()
    assert abs(lat - SCENE[0]) <= 1e-6
    assert abs(lon - SCENE[1]) <= 1e-6
    assert poi[0].type == "b-m-p-s-p-i"
    link = poi[0].event.find("detail/link")
    assert link is not None
    assert link.get("uid") == "test.drone.dfr-1"
    assert tak.malformed == 0


async def test_a_tak_server_down_then_refusing_never_stops_a_flight_and_gets_it_later(
    tmp_path: Path,
) -> None:
    pki = make_pki(tmp_path / "ours", "ours")
    stranger = make_pki(tmp_path / "theirs", "theirs")
    port = free_tcp_port()
    async with operations(tmp_path, with_tak(pki, port)) as ops:
        assert ops.tak is not None
        await ops.wait_docks_prepared(wall_s(60.0))
        call = await ops.calls.create_call(NewCall(*SCENE, 1, "manual", "down"), "disp")
        await ops.dispatch(call.id, DISPATCHER, "hq")

        def airborne() -> bool:
            active = ops.board.for_call(call.id)
            return active is not None and active.state in ("en_route", "on_scene")

        await eventually("dfr-1 flying with no TAK server", airborne, wall_s(60.0))
        assert not ops.tak.status.connected
        assert ops.tak.status.last_error is not None
        refusing = server_context(pki, client_ca=stranger.ca_cert)
        async with stream_listener(port, refusing) as listener:
            attempts = ops.tak.status.attempts
            await eventually(
                "two more attempts, refused", lambda: ops.tak.status.attempts >= attempts + 2, 20.0
            )
            assert listener.events == []
        assert ops.board.for_call(call.id) is not None  # still flying its sortie
        async with stream_listener(port, server_context(pki)) as accepting:
            await accepting.wait_for(
                "dfr-1's track once the server takes the certificate",
                track_of("dfr-1", "en_route", "on_scene", "returning"),
                20.0,
            )
            # The whole picture again on the new connection: the open call's marker.
            await accepting.wait_for(
                "the call's marker", lambda r: r.uid == f"test.call.{call.id}", 10.0
            )
