"""The server's settings reach the video side: picture size and rate, ICE on loopback,
where recordings go."""

from __future__ import annotations

from pathlib import Path

from dfr.settings import Settings
from web.drone_video import VideoSettings


def test_picture_size_rate_and_recordings_follow_the_settings(tmp_path: Path) -> None:
    video = VideoSettings.of(
        Settings(state_dir=tmp_path, video_width=640, video_height=360, video_fps=15)
    )
    assert (video.camera.width_px, video.camera.height_px, video.camera.fps) == (640, 360, 15)
    assert video.stream.fps == 15
    assert video.recordings_dir == tmp_path / "recordings"


def test_media_stays_on_loopback_when_the_server_does() -> None:
    assert VideoSettings.of(Settings(host="127.0.0.1")).relay.ice_addresses == ("127.0.0.1",)
    assert VideoSettings.of(Settings(host="localhost")).relay.ice_addresses == ("localhost",)
    assert VideoSettings.of(Settings(host="rtcc-server.internal")).relay.ice_addresses is None
