"""The console WebSocket: telemetry, sortie states, new calls and alerts, pushed as JSON.

The client authenticates with its first message, ``{"type": "auth", "token": ...}``.
"""

from __future__ import annotations

import contextlib

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from dfr.api.deps import websocket_principal

router = APIRouter()


@router.websocket("/api/ws")
async def console_socket(websocket: WebSocket) -> None:
    # Accept before anything else: the token comes in the first message, and a browser
    # sees the 4401 close code only on an open socket.
    await websocket.accept()
    principal = await websocket_principal(websocket)
    if principal is None:
        await websocket.close(code=4401, reason="log in first: missing or invalid token")
        return
    ops = websocket.app.state.ops
    await websocket.send_json({"type": "hello", "name": principal.name, "role": principal.role})

    async def send(cancel: anyio.CancelScope) -> None:
        # A console that goes away between two messages is an ordinary end, not an error.
        with contextlib.suppress(WebSocketDisconnect):
            async for message in ops.views.console_events(principal):
                await websocket.send_json(message)
        cancel.cancel()

    # As Starlette's StreamingResponse: one task group, whichever side ends first
    # (the console went away, or the server is stopping) cancels the other.
    async with anyio.create_task_group() as group:
        group.start_soon(send, group.cancel_scope)
        # Consoles only listen; reading notices the close promptly. Whatever a client
        # sends (text or binary) is ignored.
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
        group.cancel_scope.cancel()
