"""CORS for WHEP: players on the listed other origins may play the video, no one else.

A browser page on another origin (an RTCC's own tool) first asks with a preflight
`OPTIONS` that never carries a token, then sends the offer with its token and reads the
answer's `Location` only if the answer says that origin may. This ASGI middleware says
so on every answer under the WHEP paths to an origin in the allowlist, and to no other:

- a preflight from an allowed origin gets `Access-Control-Allow-Origin: <that origin>`
  (never `*`: the requests carry `Authorization`), the methods and request headers WHEP
  uses and how long to remember that; the route answers the preflight itself (200 with
  `Accept-Post`, as the WHEP draft asks), so a preflight needs no token;
- every other answer to an allowed origin (a 401 too, so that the player can read why)
  carries `Access-Control-Allow-Origin` and exposes `Location` and the other headers a
  WHEP player reads;
- an origin not listed gets no `Access-Control-*` header at all: its browser refuses.

Every answer under the paths says `Vary: Origin`, as it depends on who asks. Starlette's
`CORSMiddleware` covers a whole application and answers a refused preflight with a 400
that still lists the methods; this one is scoped to a path prefix and silent to strangers.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "If-Match")
#: What a WHEP player may read of an answer besides the CORS-safelisted headers.
EXPOSED_HEADERS = (
    "Location",
    "ETag",
    "Link",
    "Accept-Post",
    "Accept-Patch",
    "Allow",
    "Retry-After",
    "WWW-Authenticate",
    "X-Video-Codec",
)
#: How long a browser may remember a preflight's answer (Chromium caps it at 2 h).
PREFLIGHT_MAX_AGE_S = 600


class WhepCors:
    """Answers CORS for `origins` (as browsers write them: scheme://host[:port]) on the
    paths under `path_prefix`; other paths pass untouched."""

    def __init__(
        self,
        app: ASGIApp,
        origins: Iterable[str] = (),
        path_prefix: str = "/whep/",
        max_age_s: int = PREFLIGHT_MAX_AGE_S,
    ) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.path_prefix = path_prefix
        self._preflight = {
            "Access-Control-Allow-Methods": ", ".join(ALLOWED_METHODS),
            "Access-Control-Allow-Headers": ", ".join(ALLOWED_HEADERS),
            "Access-Control-Max-Age": str(max_age_s),
        }
        self._actual = {"Access-Control-Expose-Headers": ", ".join(EXPOSED_HEADERS)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.path_prefix):
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        origin = request_headers.get("origin")
        added: dict[str, str] = {}
        if origin is not None and origin in self.origins:
            preflight = (
                scope["method"] == "OPTIONS" and "access-control-request-method" in request_headers
            )
            added = {
                "Access-Control-Allow-Origin": origin,
                **(self._preflight if preflight else self._actual),
            }

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.add_vary_header("Origin")
                for name, value in added.items():
                    headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)
