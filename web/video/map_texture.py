"""A procedural, seamlessly tiling aerial view of a city for the synthetic camera.

Built once per process (about a second) and shared read-only by every
synthetic camera. The tile repeats every `TILE_M` metres in both directions;
it is stored with a wrapped margin so the camera can sample any view up to
`MARGIN_PX` texture pixels from the drone without OpenCV's slow wrapping path.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
import numpy.typing as npt

TILE_PX = 2048
METRES_PER_PX = 0.5
TILE_M = TILE_PX * METRES_PER_PX
MARGIN_PX = 512
_BLOCK_PX = 256  # 128 m between arterial roads
_STREET_PX = 128  # 64 m between minor streets

_ASPHALT = (62, 62, 66)
_KERB = (150, 150, 150)
_LANE_WHITE = (235, 235, 235)
_LANE_YELLOW = (40, 200, 230)
_GRASS = (70, 130, 80)
_TREE = (40, 95, 45)
_WATER = (140, 100, 40)
_ROOFS = (
    (120, 120, 125),
    (90, 100, 140),
    (170, 170, 165),
    (70, 80, 100),
    (150, 140, 120),
    (200, 200, 205),
)


@dataclass(frozen=True)
class MapTexture:
    """A BGR tile of `tile_px` square surrounded by `margin_px` of its own wrap."""

    image_bgr: npt.NDArray[np.uint8]
    tile_px: int
    margin_px: int
    metres_per_px: float


@functools.cache
def city_texture(seed: int = 7) -> MapTexture:
    """The shared city tile for `seed`; deterministic."""
    rng = np.random.default_rng(seed)
    image = np.empty((TILE_PX, TILE_PX, 3), dtype=np.uint8)
    image[:] = _GRASS
    _draw_blocks(image, rng)
    _draw_river(image)
    _draw_streets(image)
    noise = rng.normal(0.0, 6.0, size=(TILE_PX, TILE_PX, 1))
    textured = np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    # Soften aliasing: the camera magnifies the tile several times at low altitude.
    blurred = cv2.GaussianBlur(textured, (3, 3), 0, borderType=cv2.BORDER_WRAP)
    padded = cast(
        "npt.NDArray[np.uint8]",
        cv2.copyMakeBorder(blurred, MARGIN_PX, MARGIN_PX, MARGIN_PX, MARGIN_PX, cv2.BORDER_WRAP),
    )
    return MapTexture(
        image_bgr=padded, tile_px=TILE_PX, margin_px=MARGIN_PX, metres_per_px=METRES_PER_PX
    )


def _draw_blocks(image: npt.NDArray[np.uint8], rng: np.random.Generator) -> None:
    cells = TILE_PX // _STREET_PX
    for row in range(cells):
        for column in range(cells):
            top = row * _STREET_PX + 10
            left = column * _STREET_PX + 10
            size = _STREET_PX - 20
            if rng.random() < 0.15:
                _draw_park(image, rng, left, top, size)
            else:
                _draw_buildings(image, rng, left, top, size)


def _draw_park(
    image: npt.NDArray[np.uint8], rng: np.random.Generator, left: int, top: int, size: int
) -> None:
    cv2.rectangle(image, (left, top), (left + size, top + size), _GRASS, -1)
    for _ in range(int(rng.integers(6, 14))):
        centre = (int(left + rng.integers(6, size - 6)), int(top + rng.integers(6, size - 6)))
        cv2.circle(image, centre, int(rng.integers(3, 8)), _TREE, -1, cv2.LINE_AA)


def _draw_buildings(
    image: npt.NDArray[np.uint8], rng: np.random.Generator, left: int, top: int, size: int
) -> None:
    cv2.rectangle(image, (left, top), (left + size, top + size), (95, 105, 100), -1)
    lots = 2 if rng.random() < 0.5 else 3
    lot_px = size // lots
    for i in range(lots):
        for j in range(lots):
            x0 = left + i * lot_px + int(rng.integers(2, 6))
            y0 = top + j * lot_px + int(rng.integers(2, 6))
            x1 = left + (i + 1) * lot_px - int(rng.integers(2, 8))
            y1 = top + (j + 1) * lot_px - int(rng.integers(2, 8))
            roof = _ROOFS[int(rng.integers(len(_ROOFS)))]
            cv2.rectangle(image, (x0, y0), (x1, y1), roof, -1)
            # A roof ridge and a shadow make buildings readable from above.
            cv2.line(image, (x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2), (50, 50, 55), 1)
            cv2.line(image, (x1 + 1, y0 + 2), (x1 + 1, y1 + 1), (35, 40, 40), 2)


def _draw_river(image: npt.NDArray[np.uint8]) -> None:
    xs = np.arange(-64, TILE_PX + 65, 16)
    ys = TILE_PX * 0.62 + 90.0 * np.sin(2.0 * math.pi * xs / TILE_PX)
    points = np.stack([xs, ys], axis=1).astype(np.int32)
    cv2.polylines(image, [points], False, _WATER, 46, cv2.LINE_AA)


def _draw_streets(image: npt.NDArray[np.uint8]) -> None:
    for offset in range(0, TILE_PX + 1, _STREET_PX):
        arterial = offset % _BLOCK_PX == 0
        half_width = 12 if arterial else 7
        for horizontal in (True, False):
            _draw_street(image, offset, half_width, horizontal, arterial)


def _draw_street(
    image: npt.NDArray[np.uint8], offset: int, half_width: int, horizontal: bool, arterial: bool
) -> None:
    def span(a: int, b: int) -> tuple[tuple[int, int], tuple[int, int]]:
        if horizontal:
            return (0, offset + a), (TILE_PX, offset + b)
        return (offset + a, 0), (offset + b, TILE_PX)

    cv2.rectangle(image, *span(-half_width - 1, half_width + 1), _KERB, -1)
    cv2.rectangle(image, *span(-half_width, half_width), _ASPHALT, -1)
    if arterial:
        cv2.rectangle(image, *span(-1, 0), _LANE_YELLOW, -1)
        return
    for dash in range(0, TILE_PX, 24):
        start, end = dash, dash + 10
        if horizontal:
            cv2.line(image, (start, offset), (end, offset), _LANE_WHITE, 1)
        else:
            cv2.line(image, (offset, start), (offset, end), _LANE_WHITE, 1)
