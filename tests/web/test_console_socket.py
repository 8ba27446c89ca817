"""The console WebSocket on the real server (uvicorn in a process of its own): consoles
that go away while telemetry is being pushed to them end quietly, and the server goes
on serving the others."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import websockets

from tests.web.conftest import running_server

CONSOLES = 20


async def _console(url: str, token: str, messages: int) -> int:
    """Open a console, read `messages` telemetry messages, then leave."""
    async with websockets.connect(url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token}))
        seen = 0
        while seen < messages:
            if json.loads(await socket.recv()).get("type") == "telemetry":
                seen += 1
        return seen


async def _abandon(url: str, token: str) -> None:
    """Open a console and drop its connection without a closing handshake."""
    socket = await websockets.connect(url)
    await socket.send(json.dumps({"type": "auth", "token": token}))
    await socket.recv()
    socket.transport.abort()


def test_consoles_leaving_mid_stream_end_quietly(tmp_path: Path) -> None:
    with running_server(tmp_path, telemetry_push_hz=20.0) as server:
        url = server.base_url.replace("http://", "ws://") + "/api/ws"
        token = server.token("dispatcher")

        async def leave_and_stay() -> list[int]:
            for _ in range(3):
                await asyncio.gather(*(_console(url, token, 5) for _ in range(CONSOLES)))
                await asyncio.gather(*(_abandon(url, token) for _ in range(CONSOLES)))
            await asyncio.sleep(1.0)  # the server notices the dropped ones
            return await asyncio.gather(*(_console(url, token, 3) for _ in range(3)))

        # A thread of its own: the browser tests' Playwright keeps an event loop
        # running on the main thread for the rest of the session.
        with ThreadPoolExecutor(1) as worker:
            assert worker.submit(asyncio.run, leave_and_stay()).result() == [3, 3, 3]
        log = server.log_path.read_text(errors="replace")
        assert "Exception in ASGI application" not in log, server.log_tail(60)
