"""A synthetic downward-looking drone camera drawn with OpenCV from a drone's state.

The ground view is the shared city tile, moved by the drone's position, rotated
so the drone's heading points up and scaled by its altitude; over it go a
crosshair, the HUD, the call's scene and the latency timecode. About 6 ms per
1280x720 frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

from web.video.camera_overlay import draw_crosshair, draw_hud, draw_scene_marker
from web.video.camera_state import CameraState, CameraSubject, ScenePoint, offset_m
from web.video.map_texture import MapTexture, city_texture
from web.video.timecode import TimeCode, draw_timecode

_SCENE_RADIUS_M = 6.0


@dataclass(frozen=True)
class CameraSettings:
    """Picture size and rate, and the lens."""

    width_px: int = 1280
    height_px: int = 720
    fps: int = 30
    horizontal_fov_deg: float = 70.0
    min_altitude_m: float = 5.0

    def __post_init__(self) -> None:
        if self.width_px % 2 or self.height_px % 2 or self.width_px < 160 or self.height_px < 96:
            raise ValueError("frame size must be even and at least 160x96 pixels")
        if not 1 <= self.fps <= 120:
            raise ValueError("fps must be within 1..120")


class SyntheticCamera:
    """Draws frames of a `CameraSubject`, or of given `CameraState`s.

    Not thread-safe: one camera is drawn by one thread at a time.
    """

    def __init__(
        self,
        subject: CameraSubject | None = None,
        settings: CameraSettings | None = None,
        texture: MapTexture | None = None,
    ) -> None:
        self._subject = subject
        self._settings = settings or CameraSettings()
        self._given_texture = texture
        self._origin: ScenePoint | None = None
        self._last_state: CameraState | None = None

    @property
    def settings(self) -> CameraSettings:
        return self._settings

    @property
    def last_state(self) -> CameraState | None:
        """The state used for the most recent frame."""
        return self._last_state

    def render_bgr(self, code: TimeCode, now_utc: datetime | None = None) -> npt.NDArray[np.uint8]:
        """One frame (H x W x 3, BGR) of the subject's current state, stamped with `code`."""
        return self.draw_bgr(self._subject_state(), code, now_utc)

    def render_i420(self, code: TimeCode, now_utc: datetime | None = None) -> npt.NDArray[np.uint8]:
        """One frame as planar YUV 4:2:0 (H*3/2 x W), ready for an encoder."""
        return self.draw_i420(self._subject_state(), code, now_utc)

    def _subject_state(self) -> CameraState:
        if self._subject is None:
            raise ValueError("this camera has no subject: use draw_bgr or draw_i420")
        return self._subject.camera_state()

    def draw_bgr(
        self, state: CameraState, code: TimeCode, now_utc: datetime | None = None
    ) -> npt.NDArray[np.uint8]:
        """One frame (H x W x 3, BGR) of `state`; safe to call from a worker thread."""
        self._last_state = state
        now = now_utc or datetime.now(UTC)
        image = self._ground_view(state)
        draw_crosshair(image)
        if state.scene is not None:
            self._draw_scene(image, state)
        draw_hud(image, state, now)
        draw_timecode(image, code)
        return image

    def draw_i420(
        self, state: CameraState, code: TimeCode, now_utc: datetime | None = None
    ) -> npt.NDArray[np.uint8]:
        """One frame of `state` as planar YUV 4:2:0 (H*3/2 x W)."""
        bgr = self.draw_bgr(state, code, now_utc)
        return cast("npt.NDArray[np.uint8]", cv2.cvtColor(bgr, cv2.COLOR_BGR2YUV_I420))

    @property
    def _texture(self) -> MapTexture:
        # Built on first use (about a second, then shared by every camera).
        return self._given_texture or city_texture()

    def texels_per_px(self, state: CameraState) -> float:
        """How many texture pixels one image pixel covers at the drone's altitude."""
        altitude_m = max(state.relative_altitude_m, self._settings.min_altitude_m)
        half_fov = math.radians(self._settings.horizontal_fov_deg) / 2
        ground_width_m = 2 * altitude_m * math.tan(half_fov)
        return ground_width_m / self._texture.metres_per_px / self._settings.width_px

    def _ground_view(self, state: CameraState) -> npt.NDArray[np.uint8]:
        if self._origin is None:
            self._origin = ScenePoint(state.latitude_deg, state.longitude_deg)
        east_m, north_m = offset_m(self._origin, state)
        texture = self._texture
        mpp = texture.metres_per_px
        # Texture x grows east, y grows south. Inside the wrapped margin any view
        # around the drone is in bounds, which keeps OpenCV on its fast path.
        tx = texture.margin_px + (east_m / mpp) % texture.tile_px
        ty = texture.margin_px + (-north_m / mpp) % texture.tile_px
        # The ground is magnified several times at patrol altitudes: sampling it at
        # half resolution and scaling up costs a third and looks the same.
        width_px, height_px = self._settings.width_px // 2, self._settings.height_px // 2
        scale = self.texels_per_px(state) * 2
        heading = math.radians(state.heading_deg)
        cos_h, sin_h = math.cos(heading) * scale, math.sin(heading) * scale
        cx, cy = width_px / 2, height_px / 2
        # Maps an image pixel to a texture pixel: the image's "up" is the heading.
        matrix = np.array(
            [
                [cos_h, -sin_h, tx - cos_h * cx + sin_h * cy],
                [sin_h, cos_h, ty - sin_h * cx - cos_h * cy],
            ]
        )
        half = cv2.warpAffine(
            texture.image_bgr,
            matrix,
            (width_px, height_px),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
        size = (self._settings.width_px, self._settings.height_px)
        full = cv2.resize(half, size, interpolation=cv2.INTER_LINEAR)
        return cast("npt.NDArray[np.uint8]", full)

    def scene_px(self, state: CameraState) -> tuple[float, float] | None:
        """Where the call's scene is in the image (may be outside it), or None."""
        if state.scene is None:
            return None
        east_m, north_m = offset_m(state, state.scene)
        scale = self.texels_per_px(state) * self._texture.metres_per_px  # metres per pixel
        heading = math.radians(state.heading_deg)
        cos_h, sin_h = math.cos(heading), math.sin(heading)
        # Inverse of the ground-view rotation, applied to the offset in texture axes.
        dx, dy = east_m / scale, -north_m / scale
        x = cos_h * dx + sin_h * dy
        y = -sin_h * dx + cos_h * dy
        return x + self._settings.width_px / 2, y + self._settings.height_px / 2

    def _draw_scene(self, image: npt.NDArray[np.uint8], state: CameraState) -> None:
        position = self.scene_px(state)
        if position is None or state.scene is None:
            return
        east_m, north_m = offset_m(state, state.scene)
        metres_per_px = self.texels_per_px(state) * self._texture.metres_per_px
        radius_px = max(8, round(_SCENE_RADIUS_M / metres_per_px))
        draw_scene_marker(image, position, math.hypot(east_m, north_m), radius_px)
