"""One place that maps domain errors to HTTP errors (the server keeps running on all of them).

Every error answers ``{"detail": ...}``: a list of ``{loc, msg, type}`` for 422 (as
FastAPI's own validation errors, without echoing the input back), a sentence otherwise.
Denied requests (`Denied`, a webhook with a wrong secret) are audited on the way out.
`answers` documents that shape in the OpenAPI document, for the statuses a route can give.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from dfr.agency_scope import NotYourAgency, UnknownStationId
from dfr.api.deps import Denied, client_address, endpoint
from dfr.api.login_throttle import too_many
from dfr.api.schemas import ErrorOut, InvalidOut
from dfr.dispatcher import DroneTaken, StationUnavailable, UnknownStation, Unservable
from dfr.eido import NotAnEido, NotUtf8, NoUsableLocation
from dfr.fleet_eta import UnknownDrone
from dfr.flight_errors import FlightError
from dfr.login_guard import LoginRefused
from dfr.officer_requests import AskedTooSoon, FixRefused, NotYourRequest, RequestOpen
from dfr.operations import (
    BadWebhookToken,
    LinkedElsewhere,
    NoPurpose,
    WebhooksOff,
)
from dfr.pilot_commands import BadCommand, DroneNotFound, NotFlying
from dfr.sortie_runner import LaunchNotPending, RetaskFailed
from dfr.store import Conflict, NotFound
from dfr.video_views import TooManyViewers
from missions.geo import CoordinateError
from stations.drone_link import LinkError
from stations.fleet import DroneOffline

STATUS: tuple[tuple[type[Exception], int], ...] = (
    (NotUtf8, 400),
    (NotFound, 404),
    (UnknownStation, 404),
    (DroneNotFound, 404),
    (UnknownDrone, 404),
    (UnknownStationId, 404),
    (NotYourAgency, 403),
    (WebhooksOff, 503),
    (Conflict, 409),
    (DroneTaken, 409),
    (StationUnavailable, 409),
    (NotFlying, 409),
    (LinkedElsewhere, 409),
    (LaunchNotPending, 409),
    (RetaskFailed, 409),
    (FlightError, 409),
    # 429, not 503: this caller holds its share of viewers (RFC 6585, too many requests
    # from one user); 503 says the server cannot take more (RFC 9110), which the WHEP draft
    # keeps for an overloaded server and the relay answers when a stream is full.
    (TooManyViewers, 429),
    (RequestOpen, 409),
    (NotYourRequest, 403),
    (FixRefused, 422),
    (Unservable, 422),
    (NoPurpose, 422),
    (BadCommand, 422),
    (CoordinateError, 422),
    (NotAnEido, 422),
    (NoUsableLocation, 422),
    (DroneOffline, 503),
    (LinkError, 503),
)


#: What each error status means, as the OpenAPI document says it.
MEANING: dict[int, str] = {
    400: "the body is not UTF-8 JSON, or the request cannot apply to this token",
    401: "no token, or one that is invalid, expired, revoked or logged out (for webhooks: "
    "a missing or wrong X-DFR-Token)",
    403: "this role or this share link may not do this",
    404: "no such call, sortie, station, drone or share link",
    409: "not now: the call, sortie or drone is not in a state that allows it",
    413: "the request body is larger than the server's limit",
    415: "the body's content type is not the one this route takes",
    422: "a parameter or field is invalid, or the request cannot be served as asked",
    429: "too many failed logins, viewers or requests (or too many waiting): try again after "
    "Retry-After seconds",
    503: "not available now: the drone's link, or webhooks that are off",
}
_RETRY_AFTER = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route that can answer these error statuses: each in the one
    error shape (`InvalidOut` for 422, `ErrorOut` otherwise)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        model = InvalidOut if status == 422 else ErrorOut
        documented[status] = {"model": model, "description": MEANING[status]}
        if status == 429:
            documented[status]["headers"] = _RETRY_AFTER
    return documented


def install_error_handlers(app: FastAPI) -> None:
    for exc_type, status in STATUS:
        app.add_exception_handler(exc_type, _handler(status))
    app.add_exception_handler(LoginRefused, _refused)
    app.add_exception_handler(AskedTooSoon, _asked_too_soon)
    app.add_exception_handler(Denied, _denied)
    app.add_exception_handler(BadWebhookToken, _bad_webhook_token)
    app.add_exception_handler(RequestValidationError, _invalid)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    """A 422 naming each bad field. The input is not echoed: it may be NaN (which JSON
    cannot carry), a lone surrogate, or a megabyte of someone else's text."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


async def _refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LoginRefused)
    return too_many(str(exc), exc.retry_after_s)


async def _asked_too_soon(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AskedTooSoon)
    return too_many(str(exc), exc.retry_after_s)


async def _denied(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Denied)
    where = endpoint(request.method, request.url.path)
    access = request.app.state.access
    await access.denied(client_address(request), exc.name, where, exc.detail, exc.status_code)
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)


async def _bad_webhook_token(request: Request, exc: Exception) -> JSONResponse:
    """401; audited when a secret was sent (a missing one is a misconfigured sender)."""
    if request.headers.get("x-dfr-token") is not None:
        where = endpoint(request.method, request.url.path)
        await request.app.state.access.denied(client_address(request), None, where, str(exc), 401)
    return JSONResponse({"detail": str(exc)}, status_code=401)


def _handler(status: int):  # noqa: ANN202 - Starlette's handler signature
    async def handle(request: Request, exc: Exception) -> JSONResponse:
        if status == 422:
            detail: object = [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]
        else:
            detail = str(exc)
        return JSONResponse({"detail": detail}, status_code=status)

    return handle
