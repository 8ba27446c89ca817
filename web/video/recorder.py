"""Evidence recording: a stream's encoded frames muxed into Matroska, hashed, described.

The recorder subscribes to a stream like a viewer and writes the very packets
viewers receive, without re-encoding. When it stops, it hashes the closed file
(SHA-256) and writes a JSON manifest beside it for chain of custody. Matroska
rather than MP4: a file cut short by a crash or power loss still plays.

While it records, a `.pending.json` beside the file says what it is (stream,
drone, call, sortie, start). A recording a crash cut short has that and no
manifest; `finalise_interrupted` gives it its manifest at the next start, hashed
and marked interrupted.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import av
import av.error

from web.video.catalog import StreamCatalog
from web.video.encoded_frame import RTP_TIME_BASE, EncodedFrame, VideoCodec
from web.video.errors import (
    NoRecordingError,
    RecordingActiveError,
    RecordingError,
    StreamClosedError,
)
from web.video.fanout import Subscription
from web.video.stream import VideoStream

logger = logging.getLogger(__name__)

_QUEUE_FRAMES = 300  # ten seconds at 30 fps: a slow disk loses nothing
_CRASH_SAFE_MUXING = {"cluster_time_limit": "1000", "flush_packets": "1"}


@dataclass(frozen=True)
class RecordingManifest:
    """What was recorded, when, and the file's SHA-256; written as JSON."""

    stream_id: str
    drone_id: str | None
    call_id: str | None
    codec: VideoCodec
    container: str
    file_name: str
    size_bytes: int
    sha256: str
    started_utc: str
    ended_utc: str
    frames: int
    width_px: int
    height_px: int
    error: str | None = None  # why recording stopped early; None when it ran to its end
    sortie_id: int | None = None
    interrupted: bool = False  # cut short by a crash, finalised at the next start

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def write_beside(self, recording: Path) -> None:
        """Write the manifest next to `recording` (atomically: a crash leaves none)."""
        manifest_path = recording.with_suffix(".json")
        partial = manifest_path.with_suffix(".json.partial")
        partial.write_text(self.to_json() + "\n", encoding="utf-8")
        os.replace(partial, manifest_path)
        _pending_path(recording).unlink(missing_ok=True)


INTERRUPTED = "interrupted: the server stopped before the recording was finalised"


def _pending_path(recording: Path) -> Path:
    return recording.with_suffix(".pending.json")


def finalise_interrupted(directory: Path) -> list[RecordingManifest]:
    """Give every recording a crash left without a manifest its manifest (SHA-256, size,
    frames as far as the file holds them), marked interrupted. Blocking: run it in a
    worker thread."""
    manifests = []
    for pending in sorted(directory.glob("*.pending.json")):
        started = json.loads(pending.read_text(encoding="utf-8"))
        recording = directory / started["file_name"]
        if recording.with_suffix(".json").exists():
            pending.unlink()  # finalised after all; the pending note outlived it
            continue
        if not recording.exists():
            recording.touch()  # nothing was written: an empty file still has a hash
        frames, width, height = _frames_in(recording)
        ended = datetime.fromtimestamp(recording.stat().st_mtime, UTC)
        manifest = RecordingManifest(
            **started,
            container="matroska",
            size_bytes=recording.stat().st_size,
            sha256=sha256_file(recording),
            ended_utc=_utc_iso(ended),
            frames=frames,
            width_px=width,
            height_px=height,
            error=INTERRUPTED,
            interrupted=True,
        )
        manifest.write_beside(recording)
        manifests.append(manifest)
    return manifests


def _frames_in(recording: Path) -> tuple[int, int, int]:
    """Frames, width and height of a Matroska file that may end mid-cluster."""
    frames = width = height = 0
    try:
        with av.open(str(recording)) as container:
            if container.streams.video:
                video = container.streams.video[0]
                width, height = video.codec_context.width, video.codec_context.height
                for packet in container.demux(video):
                    if packet.size:
                        frames += 1
    except (av.error.FFmpegError, OSError):
        pass  # an empty or headerless file: what was counted stands
    return frames, width, height


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _utc_iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StreamRecorder:
    """Records one stream to `<directory>/<stream>-<start UTC>.mkv` plus `.json`."""

    def __init__(self, stream: VideoStream, directory: Path, sortie_id: int | None = None) -> None:
        self._stream = stream
        self._directory = directory
        self.sortie_id = sortie_id
        # The first codec is the pass-through one when the source has it.
        self.codec: VideoCodec = stream.codecs[0]
        self.started = datetime.now(UTC)
        stamp = self.started.strftime("%Y%m%dT%H%M%S.%fZ")
        self.path = directory / f"{stream.stream_id}-{stamp}.mkv"
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record")
        self._container: av.container.OutputContainer | None = None
        self._video: av.stream.Stream | None = None
        self._first_pts_90k: int | None = None
        self._frames = 0
        self._size_px = (0, 0)
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[RecordingManifest] | None = None

    async def start(self) -> None:
        """Begin recording at the next keyframe; raises RecordingError."""
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            _pending_path(self.path).write_text(json.dumps(self._identity()), encoding="utf-8")
            self._subscription = self._stream.subscribe(self.codec, _QUEUE_FRAMES)
        except (OSError, StreamClosedError) as exc:
            raise RecordingError(f"cannot record {self._stream.stream_id!r}: {exc}") from exc
        self._task = asyncio.create_task(
            self._run(self._subscription), name=f"record-{self.path.name}"
        )

    @property
    def frames_written(self) -> int:
        return self._frames

    @property
    def done(self) -> bool:
        """The stream ended and the recording is finalised."""
        return self._task is not None and self._task.done()

    async def finished(self) -> RecordingManifest:
        """Wait until the stream ends and the recording is finalised."""
        if self._task is None:
            raise NoRecordingError(f"{self._stream.stream_id!r} was never started")
        return await asyncio.shield(self._task)

    async def stop(self) -> RecordingManifest:
        """Finish the file, hash it and write its manifest; safe to call twice."""
        if self._task is None:
            raise NoRecordingError(f"{self._stream.stream_id!r} was never started")
        if self._subscription is not None:
            self._subscription.close()
        try:
            return await asyncio.shield(self._task)
        finally:
            self._executor.shutdown(wait=False)

    async def _run(self, subscription: Subscription) -> RecordingManifest:
        loop = asyncio.get_running_loop()
        error = None
        try:
            while True:
                frame = await subscription.next_frame()
                await loop.run_in_executor(self._executor, self._write, frame)
        except StreamClosedError:
            pass
        except (RecordingError, OSError) as exc:
            # Keep what was written: finalise it and say why it stopped.
            error = str(exc)
            logger.error("recording %s stopped: %s", self.path.name, exc)
        finally:
            subscription.close()
        return await loop.run_in_executor(self._executor, self._finish, error)

    def _write(self, frame: EncodedFrame) -> None:
        if self._container is None:
            # Clusters of at most a second, flushed as they close: a crash loses at
            # most the last second, not everything still in the muxer's buffers.
            self._container = av.open(
                str(self.path), "w", format="matroska", options=_CRASH_SAFE_MUXING
            )
            self._container.metadata["title"] = f"dfr stream {self._stream.stream_id}"
            video = self._container.add_mux_stream(
                frame.codec,
                rate=Fraction(self._stream.settings.fps),
                width=frame.width_px,
                height=frame.height_px,
            )
            video.time_base = Fraction(1, 1000)
            self._video = video
            self._first_pts_90k = frame.pts_90k
            self._size_px = (frame.width_px, frame.height_px)
        assert self._first_pts_90k is not None
        assert self._video is not None
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = frame.pts_90k - self._first_pts_90k
        packet.time_base = RTP_TIME_BASE
        packet.is_keyframe = frame.keyframe
        packet.stream = self._video
        try:
            self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise RecordingError(f"cannot write {self.path.name}: {exc}") from exc
        self._frames += 1

    def _identity(self) -> dict[str, object]:
        """What the recording is, as known when it starts."""
        return {
            "stream_id": self._stream.stream_id,
            "drone_id": self._stream.drone_id,
            "call_id": self._stream.call_id,
            "sortie_id": self.sortie_id,
            "codec": self.codec,
            "file_name": self.path.name,
            "started_utc": _utc_iso(self.started),
        }

    def _finish(self, error: str | None) -> RecordingManifest:
        if self._container is not None:
            self._container.close()
        else:
            self.path.touch()  # nothing arrived: an empty file still has a hash
        ended = datetime.now(UTC)
        manifest = RecordingManifest(
            stream_id=self._stream.stream_id,
            drone_id=self._stream.drone_id,
            call_id=self._stream.call_id,
            codec=self.codec,
            container="matroska",
            file_name=self.path.name,
            size_bytes=self.path.stat().st_size,
            sha256=sha256_file(self.path),
            started_utc=_utc_iso(self.started),
            ended_utc=_utc_iso(ended),
            frames=self._frames,
            width_px=self._size_px[0],
            height_px=self._size_px[1],
            error=error,
            sortie_id=self.sortie_id,
        )
        manifest.write_beside(self.path)
        return manifest


class Recordings:
    """Start and stop recording per stream; an async context manager."""

    def __init__(self, catalog: StreamCatalog, directory: Path) -> None:
        self._catalog = catalog
        self.directory = directory
        self._active: dict[str, StreamRecorder] = {}

    def active(self) -> dict[str, StreamRecorder]:
        """Recorders by stream id, including ones whose stream has ended."""
        return dict(self._active)

    async def start(self, stream_id: str, sortie_id: int | None = None) -> StreamRecorder:
        """Record a stream; raises UnknownStreamError or RecordingActiveError."""
        stream = self._catalog.get(stream_id)
        current = self._active.get(stream_id)
        if current is not None and not current.done:
            raise RecordingActiveError(f"stream {stream_id!r} is already being recorded")
        if current is not None:
            await self.stop(stream_id)  # finalise the one whose stream ended
        recorder = StreamRecorder(stream, self.directory, sortie_id)
        await recorder.start()
        self._active[stream_id] = recorder
        return recorder

    async def stop(self, stream_id: str) -> RecordingManifest:
        """Finish a stream's recording; raises NoRecordingError."""
        recorder = self._active.pop(stream_id, None)
        if recorder is None:
            raise NoRecordingError(f"stream {stream_id!r} is not being recorded")
        return await recorder.stop()

    async def close(self) -> list[RecordingManifest]:
        """Finish every recording; safe to call more than once."""
        return [await self.stop(stream_id) for stream_id in list(self._active)]

    async def __aenter__(self) -> Recordings:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
