"""The dfr server: the REST API, the console WebSocket, live video (WHEP) and the pages.

`create_app(settings)` builds the app; its lifespan starts the operations
service (store, fleet, flights, video) and stops it. Nothing is created at
import time.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from dfr.api import calls, fleet, misc, ws
from dfr.api.deps import PrincipalDep
from dfr.api.errors import install_error_handlers
from dfr.deployment import Deployment
from dfr.operations import Operations
from dfr.settings import Settings
from web.drone_video import DroneVideo
from web.video.whep import whep_router

STATIC_DIR = Path(__file__).parent / "static"
PAGES = {
    "/": "index.html",
    "/dispatcher": "dispatcher.html",
    "/pilot": "pilot.html",
    "/officer": "officer.html",
    "/wall": "wall.html",
}


def leaflet_dir() -> Path | None:
    """Leaflet as installed from the npm registry by `make install` (never a CDN)."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / "node_modules" / "leaflet" / "dist"
        if (candidate / "leaflet.js").exists():
            return candidate
    return None


def create_app(settings: Settings, deployment: Deployment | None = None) -> FastAPI:
    video = DroneVideo.services_for(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            Operations.running(settings, deployment) as ops,
            DroneVideo.running(ops, video),
        ):
            app.state.ops = ops
            yield

    app = FastAPI(
        title="dfr",
        version="0.1.0",
        lifespan=lifespan,
        description="Drone-as-First-Responder flight orchestration",
    )
    install_error_handlers(app)
    for module in (misc, calls, fleet, ws):
        app.include_router(module.router)
    app.include_router(whep_router(video.relay), dependencies=[Depends(whep_access)])

    vendor = leaflet_dir()
    if vendor is not None:
        app.mount("/vendor/leaflet", StaticFiles(directory=vendor), name="leaflet")
    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    for path, filename in PAGES.items():
        app.add_api_route(
            path, _page(filename), methods=["GET"], include_in_schema=False, response_model=None
        )
    return app


def whep_access(request: Request, principal: PrincipalDep) -> None:
    """Only signed-in consoles watch; an officer's link opens its call's drone only."""
    stream_id = request.path_params.get("stream_id")
    if principal.call_id is None or stream_id is None:
        return
    ops = request.app.state.ops
    served = {s["stream_id"] for s in ops.video_streams() if s["call_id"] == principal.call_id}
    if stream_id not in served:
        raise HTTPException(403, "this share link is for another drone's video")


def _page(filename: str):  # noqa: ANN202 - a route endpoint
    async def page() -> FileResponse | HTMLResponse:
        path = STATIC_DIR / filename
        if not path.exists():
            return HTMLResponse(f"<h1>{filename} is missing from this installation</h1>", 500)
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return page
