"""The fixed cameras' live video: a stream per camera, opened only while someone watches.

The relay asks `CameraStreams.stream_for` for a `cam-<id>` stream when its first viewer
arrives and closes it after the last leaves (web.video.catalog), so ten thousand
registered cameras cost nothing idle. A camera's feed is read like a drone's own
(`PassthroughSource`): H.264 and VP8 packets are forwarded unchanged, and another codec
is encoded once for the viewers that need it. A feed that cannot be opened refuses the
viewer (WHEP 502) rather than retrying; the next viewer tries again.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from dfr.camera_views import camera_of_stream
from missions.cameras import CameraRegistry
from web.video.passthrough_source import PassthroughSource
from web.video.stream import StreamSettings, VideoStream

#: How long a viewer waits for a camera's feed to answer before being refused.
OPEN_TIMEOUT_S = 8.0


class CameraStreams:
    """Builds the stream of a registered camera, by its stream id."""

    def __init__(self, cameras: CameraRegistry, settings: StreamSettings) -> None:
        self._cameras = cameras
        self._settings = settings

    def stream_for(self, stream_id: str) -> VideoStream | None:
        camera_id = camera_of_stream(stream_id)
        camera = self._cameras.get(camera_id) if camera_id is not None else None
        if camera is None:
            return None
        scheme = urlsplit(camera.source).scheme
        is_file = scheme == "file"
        source = PassthroughSource(
            camera.source.removeprefix("file:") if is_file else camera.source,
            # Over HTTP a camera may send a live stream or a clip, which would otherwise be
            # read at download speed; pacing by timestamps costs a live stream nothing.
            realtime=is_file or scheme in ("http", "https"),
            loop=is_file,  # a recorded clip stands in for a camera that never stops
            reconnect_s=None,
            open_timeout_s=OPEN_TIMEOUT_S,
            kind=f"camera {camera.id!r} feed",
        )
        return VideoStream(stream_id, source, self._settings)
