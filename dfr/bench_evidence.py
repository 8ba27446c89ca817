"""`dfr bench evidence`: how long a sortie's evidence package takes to make and to check.

Builds, in a temporary state directory, one flown sortie as the server would have
stored it: a call, the sortie and its timeline, a track of one point a second, the
mission and fence as uploaded and read back, audit entries, and a 720p H.264
recording at 30 fps and about 1.5 Mbit/s as long as asked (default 10 minutes; a
few seconds are encoded once and their packets muxed again with later timestamps,
so building it takes seconds, not the recording's length). Then it times
`gather` + `write_package` (what the API download and `dfr evidence export` do)
and `verify_package`, and prints the sizes.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from dfr.audit_signing import SigningKey
from dfr.evidence import gather, verify_package, write_package
from dfr.store import NewCall, Store, TrackPoint

FPS = 30
WIDTH, HEIGHT = 1280, 720
BIT_RATE = 1_500_000


def run(minutes: float = 10.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="dfr-bench-evidence-") as tmp:
        return asyncio.run(_measure(Path(tmp), minutes))


async def _measure(folder: Path, minutes: float) -> dict[str, Any]:
    recordings = folder / "recordings"
    recordings.mkdir()
    seconds = int(minutes * 60)
    started = time.perf_counter()
    video = await asyncio.to_thread(write_h264_recording, recordings / "dfr-1-bench.mkv", seconds)
    built_s = time.perf_counter() - started
    async with Store.open(folder / "dfr.sqlite") as store:
        sortie_id = await _flown_sortie(store, seconds)
        (recordings / "dfr-1-bench.json").write_text(
            json.dumps({"sortie_id": sortie_id, "file_name": video.name}), encoding="utf-8"
        )
        key = SigningKey.load_or_create(folder / "audit-signing.key")
        deployment = folder / "city.toml"
        deployment.write_text("[deployment]\n", encoding="utf-8")
        started = time.perf_counter()
        content = await gather(store, sortie_id, recordings, [deployment])
        package = folder / "evidence.zip"
        await asyncio.to_thread(write_package, content, package, key)
        export_s = time.perf_counter() - started
    started = time.perf_counter()
    verdict = await asyncio.to_thread(verify_package, package, key.public.pem.encode())
    verify_s = time.perf_counter() - started
    return {
        "recording_minutes": minutes,
        "recording_mb": round(video.stat().st_size / 1e6, 1),
        "track_points": seconds,
        "package_mb": round(package.stat().st_size / 1e6, 1),
        "export_s": round(export_s, 2),
        "verify_s": round(verify_s, 2),
        "intact": verdict.intact,
        "built_recording_s": round(built_s, 1),
    }


def write_h264_recording(path: Path, seconds: int) -> Path:
    """A `seconds`-long 720p30 H.264 Matroska file from a 2 s clip muxed again and again."""
    clip = _encoded_clip(2 * FPS)
    with av.open(str(path), "w", format="matroska") as out:
        stream = out.add_stream("h264", rate=FPS)
        stream.width, stream.height = WIDTH, HEIGHT
        stream.time_base = Fraction(1, FPS)
        frame_index = 0
        while frame_index < seconds * FPS:
            for data, keyframe in clip:
                packet = av.Packet(data)
                packet.pts = packet.dts = frame_index
                packet.time_base = Fraction(1, FPS)
                packet.is_keyframe = keyframe
                packet.stream = stream
                out.mux(packet)
                frame_index += 1
    return path


def _encoded_clip(frames: int) -> list[tuple[bytes, bool]]:
    codec = av.CodecContext.create("libx264", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.time_base = Fraction(1, FPS)
    codec.bit_rate = BIT_RATE
    codec.gop_size = frames  # one keyframe per clip: every repeat starts on one
    codec.options = {"preset": "veryfast", "tune": "zerolatency"}
    rng = np.random.default_rng(7)
    packets = []
    for i in range(frames):
        picture = np.full((HEIGHT, WIDTH, 3), (i * 4) % 255, dtype=np.uint8)
        picture[::8, ::8] = rng.integers(0, 255, (HEIGHT // 8, WIDTH // 8, 3), dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        frame.pts = i
        packets += [(bytes(p), p.is_keyframe) for p in codec.encode(frame)]
    packets += [(bytes(p), p.is_keyframe) for p in codec.encode(None)]
    return packets


async def _flown_sortie(store: Store, seconds: int) -> int:
    await store.register_drones([("dfr-1", "hq")])
    call = await store.add_call(NewCall(38.259, -104.605, 1, "cad", "bench"), "disp")
    sortie = await store.reserve("dfr-1", "hq", call.id, "disp", eta_s=60.0, route={})
    assert sortie is not None
    await store.mark_launched(sortie.id, "disp")
    for state in ("launching", "en_route", "on_scene", "returning", "landed", "docked"):
        await store.record_sortie_state(sortie.id, state, "bench")
    points = [
        TrackPoint(
            sortie.id,
            f"2026-11-30T10:{s // 60 % 60:02d}:{s % 60:02d}.000Z",
            float(s),
            38.2544 + s * 1e-6,
            -104.6091,
            1490.0,
            60.0,
            10.0,
            18.0,
            "MISSION",
            90.0,
            38.259,
            -104.605,
        )  # fmt: skip
        for s in range(seconds)
    ]
    await store.add_track_points(points)
    item = {"seq": 0, "command": 22, "x": 382544000, "y": -1046091000, "z": 10.0}
    await store.record_transfers(sortie.id, {"mission": {"uploaded": [item], "read_back": [item]}})
    await store.release(sortie.id, "docked", "system", "bench")
    return sortie.id


def main(args: Any) -> int:
    figures = run(args.minutes)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(
        f"evidence package of a {figures['recording_minutes']:g}-minute 720p sortie"
        f" ({figures['recording_mb']} MB of video, {figures['track_points']} track points):"
        f" export {figures['export_s']} s, verify {figures['verify_s']} s,"
        f" package {figures['package_mb']} MB, intact {figures['intact']}"
    )
    return 0
