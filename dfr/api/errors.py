"""One place that maps domain errors to HTTP errors (the server keeps running on all of them)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dfr.dispatcher import DroneTaken, StationUnavailable, UnknownStation, Unservable
from dfr.flight_errors import FlightError
from dfr.operations import BadWebhookToken, UnknownStationId, WebhooksOff
from dfr.pilot_commands import BadCommand, DroneNotFound, NotFlying
from dfr.sortie_runner import LaunchNotPending
from dfr.store import Conflict, NotFound
from missions.geo import CoordinateError
from stations.drone_link import LinkError
from stations.fleet import DroneOffline

STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (UnknownStation, 404),
    (DroneNotFound, 404),
    (UnknownStationId, 404),
    (BadWebhookToken, 401),
    (WebhooksOff, 503),
    (Conflict, 409),
    (DroneTaken, 409),
    (StationUnavailable, 409),
    (NotFlying, 409),
    (LaunchNotPending, 409),
    (FlightError, 409),
    (Unservable, 422),
    (BadCommand, 422),
    (CoordinateError, 422),
    (DroneOffline, 503),
    (LinkError, 503),
)


def install_error_handlers(app: FastAPI) -> None:
    for exc_type, status in STATUS:
        app.add_exception_handler(exc_type, _handler(status))


def _handler(status: int):  # noqa: ANN202 - Starlette's handler signature
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status)

    return handle
