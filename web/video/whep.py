"""WHEP signalling (WebRTC-HTTP Egress Protocol) for the relay, as a FastAPI router.

    POST   /whep/{stream_id}               SDP offer in, 201 + SDP answer + Location
    DELETE /whep/{stream_id}/{session_id}  leave: 204
    PATCH  /whep/{stream_id}/{session_id}  405: no trickle ICE, the offer carries
                                           every candidate
    OPTIONS /whep/{stream_id}              204 with Accept-Post

Errors are JSON `{"detail": ...}`: 400 bad offer, 404 unknown stream or
session, 406 no common codec, 410 stream ended, 415 not application/sdp,
503 too many viewers.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from web.video.errors import (
    InvalidOfferError,
    NoCommonCodecError,
    RelayError,
    RelayFullError,
    StreamClosedError,
    UnknownSessionError,
    UnknownStreamError,
    VideoError,
)
from web.video.relay import VideoRelay

SDP_MEDIA_TYPE = "application/sdp"
_MAX_OFFER_BYTES = 64 * 1024

_STATUS: list[tuple[type[VideoError], int]] = [
    (UnknownStreamError, 404),
    (UnknownSessionError, 404),
    (InvalidOfferError, 400),
    (NoCommonCodecError, 406),
    (RelayFullError, 503),
    (StreamClosedError, 410),
    (RelayError, 400),
]


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


def whep_router(relay: VideoRelay, prefix: str = "/whep") -> APIRouter:
    """WHEP endpoints for `relay`'s streams, to mount in an application."""
    router = APIRouter(prefix=prefix, tags=["video"])

    @router.options(
        "/{stream_id}",
        status_code=204,
        response_class=Response,
        responses={204: {"description": "Accept-Post names the offer's media type"}},
    )
    async def whep_options(stream_id: str) -> Response:
        return Response(status_code=204, headers={"Accept-Post": SDP_MEDIA_TYPE})

    @router.post(
        "/{stream_id}",
        status_code=201,
        name="whep_offer",
        response_class=Response,
        responses={
            201: {
                "description": "the SDP answer; Location names the session",
                "content": _SDP,
                "headers": {"Location": {"schema": {"type": "string"}}},
            },
            **_errors(
                {
                    400: "the offer is not UTF-8 SDP, or cannot receive video",
                    404: "no stream with this id",
                    406: "the offer has none of the stream's codecs",
                    410: "the stream has ended",
                    413: "the offer is too large",
                    415: "the offer is not sent as application/sdp",
                    503: "the stream has its maximum number of viewers",
                }
            ),
        },
        openapi_extra={"requestBody": {"required": True, "content": _SDP}},
    )
    async def whep_offer(stream_id: str, request: Request) -> Response:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != SDP_MEDIA_TYPE:
            return JSONResponse(
                {"detail": f"offer must be sent as {SDP_MEDIA_TYPE}"}, status_code=415
            )
        body = await request.body()
        if len(body) > _MAX_OFFER_BYTES:
            return JSONResponse({"detail": "SDP offer too large"}, status_code=413)
        try:
            offer = body.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"detail": "SDP offer is not UTF-8 text"}, status_code=400)
        try:
            answer = await relay.open_session(stream_id, offer)
        except VideoError as exc:
            return error_response(exc)
        location = request.url_for(
            "whep_session", stream_id=stream_id, session_id=answer.session_id
        ).path
        return Response(
            content=answer.sdp,
            status_code=201,
            media_type=SDP_MEDIA_TYPE,
            headers={"Location": location, "X-Video-Codec": answer.codec},
        )

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
            headers={"Allow": "DELETE"},
        )

    return router
