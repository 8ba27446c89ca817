"""A stream's encoding process: draws synthetic frames and runs the stream's encoders.

Drawing and encoding run in their own process so they never wait for the
relay's event loop: OpenCV and PyAV release the GIL around every call, and in
the server's process each call would queue behind the loop sending packets
to many viewers, making frames late; and a crash in FFmpeg ends one stream,
not the server. The parent sends one job per frame (two may be in flight)
and gets that frame's encoded packets back, in order.

The child keeps one `VideoEncoder` per feed id: one per codec when encoding
once, one per viewer in the benchmark's naive mode (run on a thread pool).
"""

from __future__ import annotations

import asyncio
import os
import pickle
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, cast

import numpy as np
import numpy.typing as npt

from web.video.encoded_frame import EncodedFrame, VideoCodec
from web.video.encoder import EncoderSettings, VideoEncoder
from web.video.errors import EncoderError
from web.video.map_texture import city_texture
from web.video.synthetic_camera import CameraSettings, SyntheticCamera
from web.video.video_source import DrawRequest

_READY = "ready"
_LENGTH = struct.Struct("!I")


@dataclass(frozen=True)
class EncodeJob:
    """One frame to encode for each of `feeds` (feed id, codec)."""

    pts_90k: int
    clock_ms: int
    feeds: tuple[tuple[int, VideoCodec], ...]
    keyframe_requests: tuple[int, ...]
    i420: npt.NDArray[np.uint8] | None = None
    draw: DrawRequest | None = None


@dataclass(frozen=True)
class EncodeResult:
    """The job's frames by feed id, and the child's CPU use so far."""

    frames: dict[int, list[EncodedFrame]]
    encode_cpu_s: float
    process_cpu_s: float
    width_px: int
    height_px: int


class EncodingWorker:
    """The parent's handle on one encoding process; an async context manager.

    The child runs `main()` of this module, spoken to over its
    stdin and stdout with length-prefixed pickles: explicit, asyncio-native,
    and free of multiprocessing's re-import of the parent's main module.
    """

    def __init__(
        self,
        settings: EncoderSettings,
        fps: int,
        *,
        start_timeout_s: float = 60.0,
        job_timeout_s: float = 10.0,
    ) -> None:
        self._settings = settings
        self._fps = fps
        self._start_timeout_s = start_timeout_s
        self._job_timeout_s = job_timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self.process_cpu_s = 0.0
        self.encode_cpu_s = 0.0

    async def start(self) -> None:
        """Start the child and wait until it is ready; raises EncoderError."""
        if self._process is not None:
            return
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            # Not "-m": results must pickle as this module's classes, not __main__'s.
            f"from {__name__} import main; main()",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(self._start_timeout_s):
                await self._send((self._settings, self._fps))
                ready = await self._receive()
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            await self.close()
            raise EncoderError(f"encoding process did not start: {exc!r}") from exc
        if ready != _READY:
            await self.close()
            raise EncoderError(f"encoding process answered {ready!r}")

    async def submit(self, job: EncodeJob) -> None:
        """Send one frame to encode; results come back in order from `next_result`.

        Raises EncoderError if the child is gone.
        """
        if self._process is None:
            raise EncoderError("encoding process is not running")
        try:
            async with asyncio.timeout(self._job_timeout_s):
                await self._send(job)
        except (TimeoutError, OSError) as exc:
            raise EncoderError(f"encoding process does not take jobs: {exc!r}") from exc

    async def next_result(self) -> EncodeResult:
        """The result of the oldest job not yet collected; raises EncoderError."""
        if self._process is None:
            raise EncoderError("encoding process is not running")
        try:
            async with asyncio.timeout(self._job_timeout_s):
                result = await self._receive()
        except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
            raise EncoderError(f"encoding process failed: {exc!r}") from exc
        if not isinstance(result, EncodeResult):
            raise EncoderError(str(result))
        self.process_cpu_s = result.process_cpu_s
        self.encode_cpu_s = result.encode_cpu_s
        return result

    async def encode(self, job: EncodeJob) -> EncodeResult:
        """Encode one frame and wait for it (with no other job in flight)."""
        await self.submit(job)
        return await self.next_result()

    async def close(self) -> None:
        """Stop the child (end of input, then by force); safe to call more than once."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            async with asyncio.timeout(5.0):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()

    async def _send(self, message: object) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        self._process.stdin.write(_LENGTH.pack(len(data)) + data)
        await self._process.stdin.drain()

    async def _receive(self) -> object:
        assert self._process is not None
        assert self._process.stdout is not None
        (size,) = _LENGTH.unpack(await self._process.stdout.readexactly(_LENGTH.size))
        return pickle.loads(await self._process.stdout.readexactly(size))

    async def __aenter__(self) -> EncodingWorker:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def _read_message(stream: BinaryIO) -> object:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError
    (size,) = _LENGTH.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


def _write_message(stream: BinaryIO, message: object) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def serve_jobs(jobs: BinaryIO, results: BinaryIO) -> None:
    """The child's main loop: one job in, one result (or an error text) out."""
    settings, fps = cast(tuple[EncoderSettings, int], _read_message(jobs))
    encoders: dict[int, VideoEncoder] = {}
    cameras: dict[CameraSettings, SyntheticCamera] = {}
    retired_cpu_s = 0.0
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    _write_message(results, _READY)
    city_texture()  # build the texture while the parent prepares its first job
    try:
        while True:
            try:
                job = cast(EncodeJob, _read_message(jobs))
            except EOFError:
                return
            for feed_id in [f for f in encoders if f not in dict(job.feeds)]:
                retired_cpu_s += encoders.pop(feed_id).encode_cpu_s
            try:
                frames, width_px, height_px = _run_job(job, encoders, cameras, settings, fps, pool)
            except (EncoderError, ValueError) as exc:
                _write_message(results, f"{type(exc).__name__}: {exc}")
                continue
            _write_message(
                results,
                EncodeResult(
                    frames=frames,
                    encode_cpu_s=retired_cpu_s + sum(e.encode_cpu_s for e in encoders.values()),
                    process_cpu_s=time.process_time(),
                    width_px=width_px,
                    height_px=height_px,
                ),
            )
    finally:
        pool.shutdown(wait=True)


def _run_job(
    job: EncodeJob,
    encoders: dict[int, VideoEncoder],
    cameras: dict[CameraSettings, SyntheticCamera],
    settings: EncoderSettings,
    fps: int,
    pool: ThreadPoolExecutor,
) -> tuple[dict[int, list[EncodedFrame]], int, int]:
    if job.i420 is not None:
        i420 = job.i420
    elif job.draw is not None:
        camera = cameras.get(job.draw.camera)
        if camera is None:
            camera = cameras[job.draw.camera] = SyntheticCamera(settings=job.draw.camera)
        i420 = camera.draw_i420(job.draw.state, job.draw.code, job.draw.now_utc)
    else:
        raise ValueError("job has no picture")
    height_px, width_px = i420.shape[0] * 2 // 3, i420.shape[1]
    for feed_id, codec in job.feeds:
        encoder = encoders.get(feed_id)
        if encoder is None or (encoder.width_px, encoder.height_px) != (width_px, height_px):
            encoders[feed_id] = VideoEncoder(codec, width_px, height_px, fps, settings)
    for feed_id in job.keyframe_requests:
        if feed_id in encoders:
            encoders[feed_id].gate.request()
    now_s = time.monotonic()

    def encode(feed_id: int) -> list[EncodedFrame]:
        return encoders[feed_id].encode_i420(i420, job.pts_90k, job.clock_ms, now_s)

    ids = [feed_id for feed_id, _ in job.feeds]
    outputs = [encode(ids[0])] if len(ids) == 1 else list(pool.map(encode, ids))
    return dict(zip(ids, outputs, strict=True)), width_px, height_px


def main() -> None:
    """Entry point of the child process."""
    # Results go to the real stdout; anything a library prints goes to stderr.
    results = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    with results:
        serve_jobs(sys.stdin.buffer, results)
