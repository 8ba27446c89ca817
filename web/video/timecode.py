"""A machine-readable clock drawn into video frames to measure glass-to-glass latency.

The code is a grid of black and white blocks in the bottom-left corner of the
frame: 64 bits, 16 columns by 4 rows, row-major, most significant bit first.

    bits  0..7    sync byte 0xB2 (rejects frames without a code)
    bits  8..39   wall clock in milliseconds, modulo 2**32
    bits 40..55   frame counter, modulo 2**16
    bits 56..63   CRC-8 (polynomial 0x07) of the six clock and counter bytes

Blocks are at least 8 pixels wide and are read at their centres, so the code
survives lossy compression. The same layout is decoded in the browser player.

>>> import numpy as np
>>> luma = np.full((360, 640), 128, dtype=np.uint8)
>>> draw_timecode(luma, TimeCode(clock_ms=123456789, frame_index=42))
>>> read_timecode(luma)
TimeCode(clock_ms=123456789, frame_index=42)
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

SYNC_BYTE = 0xB2
COLUMNS = 16
ROWS = 4
CLOCK_MODULUS_MS = 1 << 32
FRAME_MODULUS = 1 << 16
_BLACK = 16
_WHITE = 235


@dataclass(frozen=True)
class TimeCode:
    """A wall-clock time (ms, modulo 2**32) and a frame counter (modulo 2**16)."""

    clock_ms: int
    frame_index: int


@dataclass(frozen=True)
class TimecodeLayout:
    """Where the blocks sit in a frame of a given size, in pixels."""

    block_px: int
    left_px: int
    top_px: int

    @classmethod
    def for_frame(cls, width_px: int, height_px: int) -> TimecodeLayout:
        """Layout for a frame; the browser player computes the same numbers."""
        block_px = max(8, width_px // 80)
        margin_px = block_px // 2
        return cls(
            block_px=block_px,
            left_px=margin_px,
            top_px=height_px - margin_px - ROWS * block_px,
        )

    def block_centre_px(self, bit_index: int) -> tuple[int, int]:
        """(x, y) of the centre of one block."""
        row, column = divmod(bit_index, COLUMNS)
        half = self.block_px // 2
        return (
            self.left_px + column * self.block_px + half,
            self.top_px + row * self.block_px + half,
        )


def wall_clock_ms() -> int:
    """Current wall-clock time in ms, modulo 2**32, as drawn into frames."""
    return time.time_ns() // 1_000_000 % CLOCK_MODULUS_MS


def latency_ms(code: TimeCode, now_ms: int | None = None) -> int:
    """Milliseconds from the moment a frame was stamped until `now_ms`."""
    now = wall_clock_ms() if now_ms is None else now_ms
    return (now - code.clock_ms) % CLOCK_MODULUS_MS


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial 0x07, initial value 0.

    >>> hex(crc8(b"123456789"))
    '0xf4'
    """
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_bits(code: TimeCode) -> list[int]:
    """The 64 bits of a code, most significant first."""
    payload = (code.clock_ms % CLOCK_MODULUS_MS).to_bytes(4, "big") + (
        code.frame_index % FRAME_MODULUS
    ).to_bytes(2, "big")
    word = int.from_bytes(bytes([SYNC_BYTE]) + payload + bytes([crc8(payload)]), "big")
    return [(word >> (63 - i)) & 1 for i in range(64)]


def decode_bits(bits: list[int]) -> TimeCode | None:
    """The code carried by 64 bits, or None when the sync byte or CRC is wrong."""
    word = 0
    for bit in bits:
        word = (word << 1) | (bit & 1)
    raw = word.to_bytes(8, "big")
    if raw[0] != SYNC_BYTE or crc8(raw[1:7]) != raw[7]:
        return None
    return TimeCode(
        clock_ms=int.from_bytes(raw[1:5], "big"),
        frame_index=int.from_bytes(raw[5:7], "big"),
    )


def draw_timecode(image: npt.NDArray[np.uint8], code: TimeCode) -> None:
    """Draw `code` into a luma plane (H x W) or a BGR image (H x W x 3), in place."""
    height_px, width_px = image.shape[:2]
    layout = TimecodeLayout.for_frame(width_px, height_px)
    block = layout.block_px
    # A black quiet zone keeps the scenery's colours out of the outer blocks.
    pad = block // 2
    image[
        max(0, layout.top_px - pad) : layout.top_px + ROWS * block + pad,
        max(0, layout.left_px - pad) : layout.left_px + COLUMNS * block + pad,
    ] = _BLACK
    for index, bit in enumerate(encode_bits(code)):
        row, column = divmod(index, COLUMNS)
        top = layout.top_px + row * block
        left = layout.left_px + column * block
        image[top : top + block, left : left + block] = _WHITE if bit else _BLACK


def read_timecode(luma: npt.NDArray[np.uint8]) -> TimeCode | None:
    """Read the code from a luma plane (H x W); None if there is no valid code.

    Each block is read as the mean of its central quarter, thresholded half-way
    between black and white.
    """
    height_px, width_px = luma.shape[:2]
    layout = TimecodeLayout.for_frame(width_px, height_px)
    quarter = max(1, layout.block_px // 4)
    bits = []
    for index in range(COLUMNS * ROWS):
        x, y = layout.block_centre_px(index)
        if y + quarter > height_px or x + quarter > width_px:
            return None
        patch = luma[y - quarter : y + quarter, x - quarter : x + quarter]
        bits.append(1 if float(patch.mean()) > (_BLACK + _WHITE) / 2 else 0)
    return decode_bits(bits)
