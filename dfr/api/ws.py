"""The console WebSocket: telemetry, sortie states, new calls and alerts, pushed as JSON."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from dfr.api.deps import websocket_principal

router = APIRouter()


@router.websocket("/api/ws")
async def console_socket(websocket: WebSocket) -> None:
    principal = websocket_principal(websocket)
    if principal is None:
        await websocket.close(code=4401, reason="log in first: missing or invalid token")
        return
    ops = websocket.app.state.ops
    await websocket.accept()
    await websocket.send_json({"type": "hello", "name": principal.name, "role": principal.role})

    async def send() -> None:
        async for event in ops.bus.stream():
            visible = ops.view_for(principal, event)
            if visible is not None:
                await websocket.send_json(visible.as_json())

    async def receive() -> None:
        # Consoles only listen; reading notices the close promptly.
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    # Whichever side ends first (client gone, server stopping) cancels the other.
    tasks = {asyncio.create_task(send()), asyncio.create_task(receive())}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
