"""Live drone video: sources, encode-once WebRTC relay with WHEP, recording, player.

Importing this package does not import aiortc; `web.video.relay`,
`web.video.whep` and `web.video.app` do.
"""

from web.video.camera_state import CameraState, CameraSubject, OrbitingSubject, ScenePoint
from web.video.catalog import StreamCatalog
from web.video.encoded_frame import EncodedFrame, VideoCodec
from web.video.encoder import EncoderSettings
from web.video.passthrough_source import PassthroughSource
from web.video.recorder import RecordingManifest, Recordings
from web.video.stream import StreamSettings, VideoStream
from web.video.synthetic_camera import CameraSettings, SyntheticCamera
from web.video.synthetic_source import SyntheticSource

__all__ = [
    "CameraSettings",
    "CameraState",
    "CameraSubject",
    "EncodedFrame",
    "EncoderSettings",
    "OrbitingSubject",
    "PassthroughSource",
    "RecordingManifest",
    "Recordings",
    "ScenePoint",
    "StreamCatalog",
    "StreamSettings",
    "SyntheticCamera",
    "SyntheticSource",
    "VideoCodec",
    "VideoStream",
]
