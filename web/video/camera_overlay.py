"""The heads-up display drawn over the synthetic camera's ground view."""

from __future__ import annotations

import math
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

from web.video.camera_state import CameraState

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_TEXT = (255, 255, 255)
_PANEL = (0, 0, 0)
_ACCENT = (0, 220, 255)
_SCENE = (0, 0, 255)


def draw_crosshair(image: npt.NDArray[np.uint8]) -> None:
    """A gapped crosshair at the image centre."""
    height_px, width_px = image.shape[:2]
    cx, cy = width_px // 2, height_px // 2
    arm = max(12, width_px // 40)
    gap = arm // 3
    for colour, thickness in ((_PANEL, 4), (_ACCENT, 2)):
        cv2.line(image, (cx - arm, cy), (cx - gap, cy), colour, thickness)
        cv2.line(image, (cx + gap, cy), (cx + arm, cy), colour, thickness)
        cv2.line(image, (cx, cy - arm), (cx, cy - gap), colour, thickness)
        cv2.line(image, (cx, cy + gap), (cx, cy + arm), colour, thickness)


def hud_lines(state: CameraState, now_utc: datetime) -> list[str]:
    """The text shown in the top-left panel, one string per line."""
    call = state.call_id if state.call_id is not None else "none"
    return [
        f"{state.drone_id}   CALL {call}",
        f"LAT {state.latitude_deg:+.6f}  LON {state.longitude_deg:+.6f}",
        f"ALT {state.relative_altitude_m:5.1f} m  HDG {state.heading_deg:05.1f}  "
        f"SPD {state.ground_speed_m_s:4.1f} m/s",
        f"BAT {state.battery_pct:3.0f} %",
        now_utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{now_utc.microsecond // 1000:03d} UTC",
    ]


def draw_hud(image: npt.NDArray[np.uint8], state: CameraState, now_utc: datetime) -> None:
    """Drone, position, altitude, heading, speed, battery, UTC time and call."""
    width_px = image.shape[1]
    scale = width_px / 1280 * 0.6
    line_px = max(12, round(26 * width_px / 1280))
    lines = hud_lines(state, now_utc)
    panel_w = round(560 * width_px / 1280)
    panel = image[0 : line_px * len(lines) + line_px // 2, 0:panel_w]
    # Darken rather than paint over, so the ground stays visible behind the text.
    np.right_shift(panel, 1, out=panel)
    for index, text in enumerate(lines):
        origin = (line_px // 3, line_px * (index + 1))
        cv2.putText(image, text, origin, _FONT, scale, _TEXT, 1, cv2.LINE_AA)
    _draw_heading_tape(image, state.heading_deg, scale)


def _draw_heading_tape(image: npt.NDArray[np.uint8], heading_deg: float, scale: float) -> None:
    width_px = image.shape[1]
    cx = width_px // 2
    y = max(20, round(30 * scale / 0.6))
    label = f"{round(heading_deg) % 360:03d}"
    (text_w, text_h), _ = cv2.getTextSize(label, _FONT, scale * 1.2, 2)
    cv2.rectangle(
        image, (cx - text_w // 2 - 6, y - text_h - 6), (cx + text_w // 2 + 6, y + 6), _PANEL, -1
    )
    cv2.putText(image, label, (cx - text_w // 2, y), _FONT, scale * 1.2, _ACCENT, 2, cv2.LINE_AA)


def draw_scene_marker(
    image: npt.NDArray[np.uint8],
    scene_px: tuple[float, float],
    distance_m: float,
    radius_px: int,
) -> None:
    """Mark the call's scene: a ring when in view, an arrow at the edge otherwise."""
    height_px, width_px = image.shape[:2]
    x, y = scene_px
    label = f"SCENE {distance_m:.0f} m"
    scale = width_px / 1280 * 0.6
    if 0 <= x < width_px and 0 <= y < height_px:
        centre = (round(x), round(y))
        cv2.circle(image, centre, radius_px, _PANEL, 5, cv2.LINE_AA)
        cv2.circle(image, centre, radius_px, _SCENE, 3, cv2.LINE_AA)
        cv2.putText(
            image,
            label,
            (centre[0] + radius_px + 6, centre[1]),
            _FONT,
            scale,
            _SCENE,
            2,
            cv2.LINE_AA,
        )
        return
    cx, cy = width_px / 2, height_px / 2
    angle = math.atan2(y - cy, x - cx)
    # Where the ray from the centre towards the scene leaves the frame, inset.
    reach = min(
        (cx - 40) / max(abs(math.cos(angle)), 1e-9), (cy - 40) / max(abs(math.sin(angle)), 1e-9)
    )
    tip = (round(cx + reach * math.cos(angle)), round(cy + reach * math.sin(angle)))
    tail = (round(tip[0] - 40 * math.cos(angle)), round(tip[1] - 40 * math.sin(angle)))
    cv2.arrowedLine(image, tail, tip, _SCENE, 4, cv2.LINE_AA, tipLength=0.4)
    cv2.putText(image, label, (tail[0] - 60, tail[1] - 10), _FONT, scale, _SCENE, 2, cv2.LINE_AA)
