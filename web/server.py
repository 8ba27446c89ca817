"""The dfr server: the REST API, the console WebSocket, live video (WHEP) and the pages.

`create_app(settings, deployment, vehicles)` builds the app; its lifespan opens
the store, the vehicles and the fleet (`dfr.services`), the record of video views,
the video relay, the operations service and, when the deployment names a CAD/EIDO
server, the EIDO subscriber, and stops them in reverse order (the relay ends its
viewers' views before the record closes). Nothing is created at
import time. With the composition root (`dfr.cli`) it is the only code that
puts the application's parts together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from dfr.active_sorties import SortieBoard
from dfr.api import audit_checkpoints, calls, cameras, eido, fleet, holds, misc, officer, public, ws
from dfr.api.body_limit import BodyLimit
from dfr.api.deps import Denied, PrincipalDep, client_address
from dfr.api.errors import answers, install_error_handlers
from dfr.api.login_throttle import LoginThrottle
from dfr.auth import Principal
from dfr.deployment import Deployment, load_deployment
from dfr.eido_subscriber import EidoSubscriber
from dfr.operations import Operations
from dfr.services import VehicleProvider, open_services
from dfr.settings import Settings
from dfr.video_views import NO_LONGER_ALLOWED, VideoViews
from web.camera_video import CameraStreams
from web.drone_video import DroneVideo, VideoSettings
from web.video.errors import UnknownSessionError
from web.video.ice_servers import IceServers
from web.video.relay import VideoRelay
from web.video.whep import ViewerTicket, whep_router
from web.video.whep_cors import WhepCors

STATIC_DIR = Path(__file__).parent / "static"
PAGES = {
    "/": "index.html",
    "/dispatcher": "dispatcher.html",
    "/pilot": "pilot.html",
    "/officer": "officer.html",
    "/wall": "wall.html",
    "/transparency": "transparency.html",  # the public flight log: no login
}

log = logging.getLogger(__name__)


def leaflet_dir() -> Path | None:
    """Leaflet as installed from the npm registry by `make install` (never a CDN)."""
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = base / "node_modules" / "leaflet" / "dist"
        if (candidate / "leaflet.js").exists():
            return candidate
    return None


def create_app(
    settings: Settings,
    deployment: Deployment | None = None,
    vehicles: VehicleProvider | None = None,
) -> FastAPI:
    """The server for `deployment` (default: the one `settings` names); `vehicles` runs
    the drones' vehicles (e.g. the built-in simulator), None for drones already there."""
    video = DroneVideo.services_for(settings)
    planned = deployment or load_deployment(settings.deployment)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        board = SortieBoard()
        async with open_services(settings, planned, vehicles) as services:
            live = services.deployment
            async with (
                VideoViews.running(
                    services.store,
                    board,
                    services.refusals,
                    settings.max_viewers_per_token,
                    settings.max_camera_viewers_per_token,
                ) as views,
                DroneVideo.running(
                    settings, live, services.fleet, board.call_served_by, video
                ) as drone_video,
                Operations.running(services, settings, board, drone_video) as ops,
            ):
                video.catalog.provide(
                    CameraStreams(live.cameras, VideoSettings.of(settings).stream).stream_for
                )
                for manifest in drone_video.recovered:
                    await ops.records.record_recording(manifest)
                app.state.ops = ops
                app.state.access = ops.access
                app.state.views = views
                app.state.eido_subscriber = None
                watcher = asyncio.create_task(
                    end_views_no_longer_allowed(ops, views, video.relay), name="viewer access"
                )
                try:
                    url = live.eido.subscribe_url
                    if url is None:
                        yield
                        return
                    async with EidoSubscriber.running(
                        settings.eido_subscriber_settings(url), ops.calls.take_eido_document
                    ) as subscriber:
                        app.state.eido_subscriber = subscriber
                        yield
                finally:
                    watcher.cancel()
                    await asyncio.gather(watcher, return_exceptions=True)

    app = FastAPI(
        title="dfr",
        version="0.1.0",
        lifespan=lifespan,
        description="Drone-as-First-Responder flight orchestration",
    )
    install_error_handlers(app)
    app.add_middleware(
        BodyLimit,
        json_limit_bytes=settings.json_body_limit_bytes,
        sdp_limit_bytes=settings.sdp_body_limit_bytes,
    )
    app.add_middleware(LoginThrottle)  # a throttled guess costs nothing more
    # Outermost, so that every WHEP answer to a listed origin says so, a 401 or 413 too.
    app.add_middleware(WhepCors, origins=planned.video.cors_origins)
    for module in (
        misc,
        audit_checkpoints,
        calls,
        cameras,
        eido,
        fleet,
        holds,
        officer,
        public,
        ws,
    ):
        app.include_router(module.router)
    app.include_router(
        whep_router(
            video.relay,
            admission=admit_viewer,
            offer_dependencies=[Depends(whep_access)],
            offer_responses=answers(401, 403, 429),
            viewer_name=lambda request: request.state.principal.name,
        ),
        responses=answers(422),
    )
    app.add_api_route(
        "/api/video/ice-servers",
        ice_servers_endpoint(video.relay.settings.ice_servers),
        methods=["GET"],
        tags=["video"],
        response_model=list[IceServerOut],
        response_model_exclude_none=True,
        responses=answers(401, 422),
    )

    vendor = leaflet_dir()
    if vendor is not None:
        app.mount("/vendor/leaflet", StaticFiles(directory=vendor), name="leaflet")
    if STATIC_DIR.exists():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    headers = page_headers(planned.tile_url, https=settings.https)
    for path, filename in PAGES.items():
        app.add_api_route(
            path,
            _page(filename, headers),
            methods=["GET"],
            include_in_schema=False,
            response_model=None,
        )
    return app


def page_headers(tile_url: str | None, https: bool = False) -> dict[str, str]:
    """What the pages may load and who may frame them: only this server (and the map
    tile server, when the deployment names one), never a frame; no referrer leaves. Served
    over HTTPS, browsers are told to come back only that way for a year."""
    images = ["'self'", "data:", "blob:"]
    if tile_url and "://" in tile_url:
        parts = urlsplit(tile_url)
        images.append(f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}")
    policy = "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",  # Leaflet and the consoles set style attributes
            f"img-src {' '.join(images)}",
            "media-src 'self' blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )
    hsts = {"Strict-Transport-Security": "max-age=31536000"} if https else {}
    return {
        **hsts,
        "Cache-Control": "no-cache",
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
    }


class IceServerOut(BaseModel):
    """One entry of a player's `iceServers` (RTCIceServer)."""

    urls: list[str]
    username: str | None = None
    credential: str | None = None


def ice_servers_endpoint(
    servers: IceServers,
) -> Callable[[Principal], Awaitable[list[IceServerOut]]]:
    async def video_ice_servers(principal: PrincipalDep) -> list[IceServerOut]:
        """The STUN and TURN servers a player configures before it offers, TURN with a
        credential minted for the asker that expires (none: the relay needs none)."""
        return [IceServerOut.model_validate(s.as_json()) for s in servers.for_peer(principal.name)]

    return video_ice_servers


def whep_access(request: Request, principal: PrincipalDep) -> None:
    """Only signed-in consoles watch; an officer's link opens its call's drone only."""
    request.state.principal = principal  # for the viewer's admission (who watches)
    stream_id = request.path_params.get("stream_id")
    if principal.call_id is None and principal.agencies is None:
        return  # a console watches every stream; an unknown one is the relay's 404
    if principal.call_id is None:
        if stream_id is not None and not request.app.state.ops.views.may_watch(
            principal, stream_id
        ):
            raise Denied(403, "this stream is another agency's", principal.name)
        return
    if stream_id is not None and not request.app.state.ops.views.may_watch(principal, stream_id):
        raise Denied(403, "you may watch only the drone flying for your call", principal.name)


async def end_views_no_longer_allowed(
    ops: Operations, views: VideoViews, relay: VideoRelay
) -> None:
    """Each time the streams change (a sortie starts, ends or is re-tasked), hang up on
    the viewers whose token may no longer watch what they watch: admission is checked
    once, at the offer, and a drone changes calls under its viewers."""
    async for event in ops.bus.stream():
        if event.kind != "streams":
            continue
        try:
            for ticket in views.no_longer_allowed(ops.views.may_watch):
                assert ticket.session_id is not None
                with contextlib.suppress(UnknownSessionError):  # it ended meanwhile
                    await relay.close_session(
                        ticket.view.stream_id, ticket.session_id, NO_LONGER_ALLOWED
                    )
        except Exception:  # noqa: BLE001 - the next change is looked at all the same
            log.exception("could not end the views no longer allowed")


async def admit_viewer(request: Request, stream_id: str) -> ViewerTicket:
    """Each viewer recorded (who, which drone, from when to when), at most
    `max_viewers_per_token` at once per session or share link."""
    views: VideoViews = request.app.state.views
    return await views.admit(request.state.principal, stream_id, client_address(request))


def _page(filename: str, headers: dict[str, str]):  # noqa: ANN202 - a route endpoint
    async def page() -> FileResponse | HTMLResponse:
        path = STATIC_DIR / filename
        if not path.exists():
            return HTMLResponse(f"<h1>{filename} is missing from this installation</h1>", 500)
        return FileResponse(path, headers=headers)

    return page
