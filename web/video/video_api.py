"""HTTP routes for streams, recording and the player page (WHEP lives in `whep.py`).

GET    /video/streams                      streams, viewers and recordings
GET    /video/stats                        the server process's CPU time, per stream
POST   /video/streams/{id}/recording       start recording: 201
DELETE /video/streams/{id}/recording       stop: 200 with the manifest
GET    /video/player/{id}                  the player page
"""

from __future__ import annotations

import dataclasses
import html
import os
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from web.video.catalog import StreamCatalog
from web.video.errors import (
    NoRecordingError,
    RecordingActiveError,
    RecordingError,
    UnknownStreamError,
    VideoError,
)
from web.video.player_page import player_html
from web.video.recorder import Recordings
from web.video.relay import VideoRelay

_STATUS: list[tuple[type[VideoError], int]] = [
    (UnknownStreamError, 404),
    (RecordingActiveError, 409),
    (NoRecordingError, 404),
    (RecordingError, 500),
]


def _error(exc: VideoError) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": str(exc)}, status_code=status)


def process_cpu_s() -> float:
    """CPU seconds (user + system) used by this process so far."""
    times = os.times()
    return times.user + times.system


def video_router(
    catalog: StreamCatalog,
    relay: VideoRelay,
    recordings: Recordings,
) -> APIRouter:
    """Stream listing, statistics, recording control and the player page.

    The player page finds its WHEP endpoint by route name, so the WHEP router
    must be mounted in the same application.
    """
    router = APIRouter(prefix="/video", tags=["video"])

    def describe() -> list[dict[str, Any]]:
        active = recordings.active()
        streams = []
        for stream in catalog:
            info = dataclasses.asdict(stream.info())
            info["viewers"] = len(relay.sessions(stream.stream_id))
            recorder = active.get(stream.stream_id)
            info["recording"] = recorder.path.name if recorder and not recorder.done else None
            streams.append(info)
        return streams

    @router.get("/streams")
    async def list_streams() -> list[dict[str, Any]]:
        return describe()

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        own_s = process_cpu_s()
        workers_s = sum(stream.info().worker_cpu_s for stream in catalog)
        return {
            "server_cpu_s": own_s + workers_s,
            "process_cpu_s": own_s,
            "encoding_processes_cpu_s": workers_s,
            "monotonic_s": time.monotonic(),
            "cpu_count": os.cpu_count(),
            "streams": describe(),
            "sessions": [dataclasses.asdict(s) for s in relay.sessions()],
        }

    @router.post("/streams/{stream_id}/recording", status_code=201)
    async def start_recording(stream_id: str) -> Any:
        try:
            recorder = await recordings.start(stream_id)
        except VideoError as exc:
            return _error(exc)
        return JSONResponse(
            {"stream_id": stream_id, "file_name": recorder.path.name, "codec": recorder.codec},
            status_code=201,
        )

    @router.delete("/streams/{stream_id}/recording")
    async def stop_recording(stream_id: str) -> Any:
        try:
            manifest = await recordings.stop(stream_id)
        except VideoError as exc:
            return _error(exc)
        return dataclasses.asdict(manifest)

    @router.get("/player/{stream_id}", response_class=HTMLResponse)
    async def player(stream_id: str, request: Request) -> HTMLResponse:
        try:
            catalog.get(stream_id)
        except UnknownStreamError as exc:
            return HTMLResponse(f"<p>{html.escape(str(exc))}</p>", status_code=404)
        whep_url = request.url_for("whep_offer", stream_id=stream_id).path
        return HTMLResponse(player_html(stream_id, whep_url))

    return router
