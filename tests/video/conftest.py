"""Fixtures for the live-video tests: free loopback sockets and a running server."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI

from web.video.app import create_video_app

from .helpers import LOOPBACK, live_server, loopback_relay_settings, synthetic_stream


@pytest.fixture
def loopback_socket() -> Iterator[socket.socket]:
    """A TCP socket bound to a free loopback port, for a server to listen on."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((LOOPBACK, 0))
    yield sock
    sock.close()


@pytest.fixture
async def video_server(
    loopback_socket: socket.socket, tmp_path: Path
) -> AsyncIterator[tuple[str, FastAPI]]:
    """A real server with one small synthetic stream, "drone-1"; yields (base URL, app)."""
    app = create_video_app(
        [synthetic_stream()],
        relay_settings=loopback_relay_settings(),
        recordings_dir=tmp_path / "recordings",
    )
    async with live_server(app, loopback_socket) as base_url:
        yield base_url, app
