"""The synthetic camera: what it draws, that it moves with the drone, and what it costs."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from web.video.camera_overlay import hud_lines
from web.video.camera_state import CameraState, OrbitingSubject, displaced
from web.video.synthetic_camera import CameraSettings, SyntheticCamera
from web.video.timecode import TimeCode, read_timecode

from .helpers import SCENE

STATE = CameraState(
    drone_id="pueblo-2",
    latitude_deg=SCENE.latitude_deg,
    longitude_deg=SCENE.longitude_deg,
    relative_altitude_m=60.0,
    heading_deg=0.0,
    ground_speed_m_s=11.5,
    battery_pct=76.0,
    call_id="2026-000123",
    scene=displaced(SCENE, 10.0, 0.0),
)


class FixedSubject:
    """A drone whose state the test sets."""

    def __init__(self, state: CameraState) -> None:
        self.state = state

    def camera_state(self) -> CameraState:
        return self.state


def test_frames_have_the_configured_size_and_carry_the_timecode() -> None:
    camera = SyntheticCamera(FixedSubject(STATE), CameraSettings(width_px=1280, height_px=720))
    image = camera.render_bgr(TimeCode(42, 7))
    assert image.shape == (720, 1280, 3)
    assert image.dtype == np.uint8
    i420 = camera.render_i420(TimeCode(43, 8))
    assert i420.shape == (1080, 1280)
    assert read_timecode(i420[:720]) == TimeCode(43, 8)


def test_the_ground_moves_with_position_and_turns_with_heading() -> None:
    subject = FixedSubject(STATE)
    camera = SyntheticCamera(subject, CameraSettings(width_px=640, height_px=360))
    first = camera.render_bgr(TimeCode(0, 0)).astype(np.int16)
    subject.state = replace(STATE, latitude_deg=STATE.latitude_deg + 0.0002)  # 22 m north
    moved = camera.render_bgr(TimeCode(0, 0)).astype(np.int16)
    subject.state = replace(STATE, heading_deg=90.0)
    turned = camera.render_bgr(TimeCode(0, 0)).astype(np.int16)
    centre = np.s_[120:240, 220:420]
    assert np.abs(first[centre] - moved[centre]).mean() > 10
    assert np.abs(first[centre] - turned[centre]).mean() > 10


def test_the_scene_is_marked_where_it_is() -> None:
    camera = SyntheticCamera(FixedSubject(STATE), CameraSettings(width_px=1280, height_px=720))
    x, y = camera.scene_px(STATE) or (0.0, 0.0)
    # 10 m east with the drone heading north: right of the centre, same row.
    assert x > 640
    assert y == pytest.approx(360, abs=1)
    image = camera.render_bgr(TimeCode(0, 0))
    red = (image[:, :, 2] > 200) & (image[:, :, 1] < 60) & (image[:, :, 0] < 60)
    rows, columns = np.nonzero(red)
    # A red ring around the scene, and nothing red far from it.
    assert len(rows) > 200
    assert abs(np.median(columns) - x) < 80
    assert abs(np.median(rows) - y) < 80


def test_a_scene_behind_the_drone_is_outside_the_frame() -> None:
    state = replace(STATE, scene=displaced(SCENE, 0.0, -400.0))
    camera = SyntheticCamera(FixedSubject(state), CameraSettings(width_px=1280, height_px=720))
    x, y = camera.scene_px(state) or (0.0, 0.0)
    assert y > 720
    camera.render_bgr(TimeCode(0, 0))  # draws an arrow at the edge instead


def test_hud_shows_drone_position_altitude_heading_speed_battery_time_and_call() -> None:
    text = "\n".join(hud_lines(STATE, datetime(2026, 11, 21, 1, 2, 3, 456000, tzinfo=UTC)))
    for expected in (
        "pueblo-2",
        "CALL 2026-000123",
        "LAT +38.254400",
        "LON -104.609100",
        "ALT  60.0 m",
        "HDG 000.0",
        "SPD 11.5 m/s",
        "BAT  76 %",
        "2026-11-21 01:02:03.456 UTC",
    ):
        assert expected in text


def test_the_orbiting_subject_circles_its_scene() -> None:
    now = [0.0]
    subject = OrbitingSubject(
        "d", SCENE, radius_m=30.0, ground_speed_m_s=6.0, call_id="c", clock_s=lambda: now[0]
    )
    camera = SyntheticCamera(subject, CameraSettings(width_px=640, height_px=360))
    for now[0] in (0.0, 3.0, 7.0):
        state = subject.camera_state()
        x, y = camera.scene_px(state) or (0.0, 0.0)
        # Flying clockwise, the scene stays 30 m to the drone's right, in view.
        assert 320 < x < 640
        assert y == pytest.approx(180, abs=2)


def test_drawing_720p_is_cheap() -> None:
    camera = SyntheticCamera(
        OrbitingSubject("d", SCENE, call_id="c"), CameraSettings(width_px=1280, height_px=720)
    )
    camera.render_i420(TimeCode(0, 0))  # builds the shared texture
    started = time.perf_counter()
    for index in range(30):
        camera.render_i420(TimeCode(index, index))
    per_frame_ms = (time.perf_counter() - started) / 30 * 1000
    # About 5 ms here; a 30 fps stream has 33 ms per frame for drawing and encoding.
    assert per_frame_ms < 20
