"""A request body limit enforced while the body is read: an oversized request is
refused with 413 before it costs the server more than the limit in memory or time.

SDP offers (WHEP) get their own, larger limit; every other body the smaller one.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    """ASGI middleware: buffer at most `limit` bytes of a request body, else answer 413."""

    def __init__(self, app: ASGIApp, json_limit_bytes: int, sdp_limit_bytes: int) -> None:
        self.app = app
        self.json_limit_bytes = json_limit_bytes
        self.sdp_limit_bytes = sdp_limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        sdp = headers.get(b"content-type", b"").split(b";")[0].strip() == b"application/sdp"
        limit = self.sdp_limit_bytes if sdp else self.json_limit_bytes
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(limit)(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the app sees it below
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(limit)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return message
            return await receive()

        await self.app(scope, replay, send)


def _too_large(limit: int) -> JSONResponse:
    detail = {"detail": f"request body larger than {limit} bytes"}
    return JSONResponse(detail, status_code=413, headers={"Connection": "close"})
