"""WHEP signalling (WebRTC-HTTP Egress Protocol) for the relay, as a FastAPI router.

    POST    /whep/{stream_id}               SDP offer in, 201 + SDP answer + Location
    GET     /whep/{stream_id}               200, no content (HEAD too: Content-Type
                                            application/sdp says "a WHEP endpoint")
    OPTIONS /whep/{stream_id}               200 with Accept-Post (a CORS preflight)
    DELETE  /whep/{stream_id}/{session_id}  leave: 204
    GET     /whep/{stream_id}/{session_id}  200 while the session lives, no content
    PATCH   /whep/{stream_id}/{session_id}  405: no trickle ICE, the offer carries
                                            every candidate
    OPTIONS /whep/{stream_id}/{session_id}  200 (a CORS preflight)

This follows draft-ietf-wish-whep-03: GET answers 2xx without content, OPTIONS
answers 200 with `Accept-Post`, the answer's media sections are `sendonly` with
`rtcp-mux-only` (the relay's). Errors are JSON `{"detail": ...}`: 400 bad offer,
404 unknown stream or session, 406 no common codec, 410 stream ended, 413 offer
too large, 415 not application/sdp, 502 an on-demand stream's feed (a fixed camera's)
could not be opened, 503 too many viewers of the stream.

Only the offer asks who is watching (`offer_dependencies`). A session's URL (the
answer's `Location`) is the session's own credential: its id is 128 random bits,
it can only end that one session, never open another, and it dies with the session.
So a player that sent its token in the query (`?token=`, as share links and some
players do) can still end its session, and no token is ever copied into a URL.

An application that wants to know who watches passes `admission`: asked for a
`ViewerTicket` before an offer is looked at (it may refuse by raising, which the
application's error handlers answer), the ticket learns whether the offer was
answered or refused and, once, when and why the session ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response, params
from fastapi.responses import JSONResponse

from web.video.errors import (
    InvalidOfferError,
    NoCommonCodecError,
    OfferMediaTypeError,
    OfferTooLargeError,
    RelayError,
    RelayFullError,
    SourceError,
    StreamClosedError,
    UnknownSessionError,
    UnknownStreamError,
    VideoError,
)
from web.video.relay import VideoRelay

SDP_MEDIA_TYPE = "application/sdp"
_MAX_OFFER_BYTES = 64 * 1024
_ENDPOINT_METHODS = "GET, HEAD, POST, OPTIONS"
_SESSION_METHODS = "GET, DELETE, OPTIONS"
_NO_CONTENT = "no content: a WHEP resource has no representation"

_STATUS: list[tuple[type[VideoError], int]] = [
    (UnknownStreamError, 404),
    (UnknownSessionError, 404),
    (InvalidOfferError, 400),
    (OfferMediaTypeError, 415),
    (OfferTooLargeError, 413),
    (NoCommonCodecError, 406),
    (RelayFullError, 503),
    (StreamClosedError, 410),
    (RelayError, 400),
    (SourceError, 502),
]


class ViewerTicket(Protocol):
    """What an application learns of one viewer it admitted."""

    async def started(self, session_id: str) -> None:
        """The offer was answered: the session `session_id` begins."""

    async def refused(self, reason: str) -> None:
        """The offer was refused, with what the viewer was told."""

    async def ended(self, reason: str) -> None:
        """The session ended (awaited once, by the relay)."""

    def release(self) -> bool:
        """Forget the viewer without a word (the request was cancelled)."""


ViewerAdmission = Callable[[Request, str], Awaitable[ViewerTicket]]
"""Admits a viewer of a stream (by id), or raises."""


class _Unwatched:
    """The ticket when nobody asked to know."""

    async def started(self, session_id: str) -> None:
        pass

    async def refused(self, reason: str) -> None:
        pass

    async def ended(self, reason: str) -> None:
        pass

    def release(self) -> bool:
        return False


#: The body of every error answer, as the OpenAPI document shows it.
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_SDP = {SDP_MEDIA_TYPE: {"schema": {"type": "string"}}}


def _errors(described: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses: {status: why}."""
    return {
        status: {"description": why, "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
        for status, why in described.items()
    }


def error_response(exc: VideoError) -> JSONResponse:
    """The HTTP answer for a relay error."""
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _offer_of(request: Request) -> str:
    """The SDP offer of a request; raises OfferMediaTypeError, OfferTooLargeError or
    InvalidOfferError."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != SDP_MEDIA_TYPE:
        raise OfferMediaTypeError(f"offer must be sent as {SDP_MEDIA_TYPE}")
    body = await request.body()
    if len(body) > _MAX_OFFER_BYTES:
        raise OfferTooLargeError("SDP offer too large")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidOfferError("SDP offer is not UTF-8 text") from None


def whep_router(
    relay: VideoRelay,
    prefix: str = "/whep",
    admission: ViewerAdmission | None = None,
    offer_dependencies: Sequence[params.Depends] = (),
    offer_responses: dict[int | str, dict[str, Any]] | None = None,
    viewer_name: Callable[[Request], str] = lambda request: "viewer",
) -> APIRouter:
    """WHEP endpoints for `relay`'s streams, to mount in an application; `admission`
    admits (and follows) each viewer, see the module docstring. The answer's `Link`
    headers name the relay's STUN and TURN servers, with a TURN credential minted for
    `viewer_name(request)`.

    `offer_dependencies` (who may watch) and `offer_responses` (what they answer) apply to
    the offer alone: a CORS preflight, a GET and a session's own URL need no token.
    """
    router = APIRouter(prefix=prefix, tags=["video"])

    @router.options(
        "/{stream_id}",
        response_class=Response,
        responses={200: {"description": "Accept-Post names the offer's media type"}},
    )
    async def whep_options(stream_id: str) -> Response:
        return Response(headers={"Accept-Post": SDP_MEDIA_TYPE, "Allow": _ENDPOINT_METHODS})

    @router.get(
        "/{stream_id}",
        response_class=Response,
        responses={200: {"description": _NO_CONTENT, "content": _SDP}},
    )
    async def whep_endpoint(stream_id: str) -> Response:
        return _empty_sdp()

    @router.head(
        "/{stream_id}",
        response_class=Response,
        responses={200: {"description": _NO_CONTENT, "content": _SDP}},
    )
    async def whep_endpoint_head(stream_id: str) -> Response:
        return _empty_sdp()

    @router.post(
        "/{stream_id}",
        status_code=201,
        name="whep_offer",
        response_class=Response,
        dependencies=list(offer_dependencies),
        responses={
            201: {
                "description": "the SDP answer; Location names the session",
                "content": _SDP,
                "headers": {
                    "Location": {"schema": {"type": "string"}},
                    "Link": {
                        "description": 'the STUN and TURN servers (rel="ice-server")',
                        "schema": {"type": "string"},
                    },
                },
            },
            **_errors(
                {
                    400: "the offer is not UTF-8 SDP, or cannot receive video",
                    404: "no stream with this id",
                    406: "the offer has none of the stream's codecs",
                    410: "the stream has ended",
                    413: "the offer is too large",
                    415: "the offer is not sent as application/sdp",
                    502: "the camera's feed could not be opened",
                    503: "the stream has its maximum number of viewers",
                }
            ),
            **(offer_responses or {}),
        },
        openapi_extra={"requestBody": {"required": True, "content": _SDP}},
    )
    async def whep_offer(stream_id: str, request: Request) -> Response:
        ticket = await admission(request, stream_id) if admission is not None else _Unwatched()
        try:
            offer = await _offer_of(request)
            answer = await relay.open_session(stream_id, offer, on_end=ticket.ended)
        except VideoError as exc:
            await ticket.refused(str(exc))
            return error_response(exc)
        except BaseException:
            ticket.release()  # cancelled or crashed: nothing was answered
            raise
        await ticket.started(answer.session_id)
        # The session's URL is all it takes to end it (see the module docstring): no token
        # goes into it, so a player that sent one in the query leaks none here.
        location = request.url_for(
            "whep_session", stream_id=stream_id, session_id=answer.session_id
        ).path
        headers = {"Location": location, "X-Video-Codec": answer.codec}
        servers = relay.settings.ice_servers.for_peer(viewer_name(request))
        if servers:
            headers["Link"] = ", ".join(v for s in servers for v in s.link_headers())
        return Response(
            content=answer.sdp, status_code=201, media_type=SDP_MEDIA_TYPE, headers=headers
        )

    @router.options(
        "/{stream_id}/{session_id}",
        response_class=Response,
        responses={200: {"description": "Allow names what a session answers"}},
    )
    async def whep_session_options(stream_id: str, session_id: str) -> Response:
        return Response(headers={"Allow": _SESSION_METHODS})

    @router.get(
        "/{stream_id}/{session_id}",
        response_class=Response,
        responses={
            200: {"description": _NO_CONTENT, "content": _SDP},
            **_errors({404: "no such stream or session"}),
        },
    )
    async def whep_session_get(stream_id: str, session_id: str) -> Response:
        if not relay.has_session(stream_id, session_id):
            return error_response(UnknownSessionError(stream_id, session_id))
        return _empty_sdp()

    @router.delete(
        "/{stream_id}/{session_id}",
        status_code=204,
        name="whep_session",
        response_class=Response,
        responses=_errors({404: "no such stream or session"}),
    )
    async def whep_delete(stream_id: str, session_id: str) -> Response:
        try:
            await relay.close_session(stream_id, session_id)
        except VideoError as exc:
            return error_response(exc)
        return Response(status_code=204)

    @router.patch(
        "/{stream_id}/{session_id}",
        status_code=405,
        response_class=Response,
        responses=_errors({405: "trickle ICE is not supported: the offer carries every candidate"}),
    )
    async def whep_patch(stream_id: str, session_id: str) -> Response:
        return JSONResponse(
            {"detail": "trickle ICE is not supported; send every candidate in the offer"},
            status_code=405,
            headers={"Allow": _SESSION_METHODS},
        )

    return router


def _empty_sdp() -> Response:
    """What a GET or HEAD of a WHEP resource answers: no representation (the draft), and
    the media type an offer is sent as, which tells players that this is a WHEP endpoint."""
    return Response(status_code=200, media_type=SDP_MEDIA_TYPE)
