"""A small FastAPI application serving live video alone: for tests, the benchmark, demos.

The full server mounts `whep_router` and `video_router` in its own app and
owns the same services in its lifespan; this app is the reference for that.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from web.video.catalog import StreamCatalog
from web.video.recorder import Recordings
from web.video.relay import RelaySettings, VideoRelay
from web.video.stream import VideoStream
from web.video.video_api import video_router
from web.video.whep import whep_router


@dataclass(frozen=True)
class VideoServices:
    """What the video routes use; `app.state.video` in `create_video_app`."""

    catalog: StreamCatalog
    relay: VideoRelay
    recordings: Recordings


def create_video_services(
    relay_settings: RelaySettings | None = None, recordings_dir: Path | None = None
) -> VideoServices:
    """Build, without starting, the catalog, relay and recordings."""
    catalog = StreamCatalog()
    return VideoServices(
        catalog=catalog,
        relay=VideoRelay(catalog, relay_settings),
        recordings=Recordings(catalog, recordings_dir or Path("recordings")),
    )


@contextlib.asynccontextmanager
async def running_video(
    services: VideoServices, streams: Sequence[VideoStream] = (), record: bool = False
) -> AsyncIterator[VideoServices]:
    """Start the relay and `streams` (recording each if `record`); stop all on exit.

    Recordings are finalised first, so their manifests cover every frame sent.
    """
    async with contextlib.AsyncExitStack() as stack:
        await stack.enter_async_context(services.catalog)
        await stack.enter_async_context(services.relay)
        await stack.enter_async_context(services.recordings)
        for stream in streams:
            await services.catalog.start(stream)
            if record:
                await services.recordings.start(stream.stream_id)
        yield services


def create_video_app(
    streams: Sequence[VideoStream] = (),
    *,
    relay_settings: RelaySettings | None = None,
    recordings_dir: Path | None = None,
    record: bool = False,
) -> FastAPI:
    """An app serving `streams` over WHEP with the player page at /video/player/{id}.

    The lifespan starts the relay and the streams and stops them; with `record`
    every stream is recorded into `recordings_dir` from the start.
    """
    services = create_video_services(relay_settings, recordings_dir)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running_video(services, streams, record):
            yield

    app = FastAPI(title="dfr live video", lifespan=lifespan)
    app.state.video = services
    app.include_router(whep_router(services.relay))
    app.include_router(video_router(services.catalog, services.relay, services.recordings))

    @app.get("/", include_in_schema=False)
    async def index() -> RedirectResponse:
        first = next(iter(services.catalog), None)
        target = f"/video/player/{first.stream_id}" if first else "/video/streams"
        return RedirectResponse(target)

    return app
