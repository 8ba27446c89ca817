"""Typed dependencies of the API: the operations service and who is asking.

A request turned away for who is asking (403) or for the token it came with (401, when
one was presented) raises `Denied`, which the error handlers audit (`dfr.api.errors`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Query, Request, Response, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dfr.access import Access
from dfr.api.schemas import MAX_ID
from dfr.auth import BadToken, Principal, Role
from dfr.operations import Operations
from dfr.video_views import VideoViews

_bearer = HTTPBearer(auto_error=False)
BEARER = {"WWW-Authenticate": "Bearer"}
MAX_AUDITED_PATH = 200


class Denied(HTTPException):
    """A 401 or 403 worth an audit entry; `name` is who asked, when known."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        name: str | None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail, headers)
        self.name = name


def client_address(request: Request | WebSocket) -> str:
    return request.client.host if request.client else "unknown"


def endpoint(method: str, path: str) -> str:
    """How an audit entry names a request: "GET /api/calls/7" (never the query, which
    may hold a token; a path cut short: it is the client's to make long)."""
    return f"{method} {path[:MAX_AUDITED_PATH]}"


def get_ops(request: Request) -> Operations:
    return request.app.state.ops


OpsDep = Annotated[Operations, Depends(get_ops)]


def get_access(request: Request) -> Access:
    return request.app.state.access


AccessDep = Annotated[Access, Depends(get_access)]


def get_views(request: Request) -> VideoViews:
    return request.app.state.views


ViewsDep = Annotated[VideoViews, Depends(get_views)]


async def get_principal(
    access: AccessDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[str | None, Query(description="token, for links and media players")] = None,
) -> Principal:
    raw = creds.credentials if creds is not None else token
    if not raw:
        raise HTTPException(401, "log in first: no bearer token", BEARER)
    try:
        return await access.principal(raw)
    except BadToken as exc:
        raise Denied(401, str(exc), exc.name, BEARER) from exc


PrincipalDep = Annotated[Principal, Depends(get_principal)]

CallId = Annotated[int, Path(ge=1, le=MAX_ID, description="a call's id")]
AfterId = Annotated[int, Query(ge=0, le=MAX_ID, description="cursor: only items with a larger id")]
PageSize = Annotated[int, Query(ge=1, le=1000, description="at most this many items")]
NEXT_PAGE_HEADER = "X-Next-After-Id"


def next_page(response: Response, ids: list[int], limit: int) -> None:
    """A full page says where the next one starts (in the X-Next-After-Id header)."""
    if len(ids) == limit:
        response.headers[NEXT_PAGE_HEADER] = str(ids[-1])


SortieId = Annotated[int, Path(ge=1, le=MAX_ID, description="a sortie's id")]


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """A dependency that lets only `roles` through (403 otherwise)."""
    allowed = frozenset(roles)

    def check(principal: PrincipalDep) -> Principal:
        if principal.role not in allowed:
            names = " or ".join(sorted(str(r) for r in allowed))
            raise Denied(403, f"{principal.role} may not do this: needs {names}", principal.name)
        return principal

    return check


def check_call_scope(principal: Principal, call_id: int | None) -> None:
    """An officer's share link opens one call and nothing else."""
    if principal.call_id is not None and principal.call_id != call_id:
        raise Denied(403, "this share link is for another call", principal.name)


async def websocket_principal(websocket: WebSocket, timeout_s: float = 10.0) -> Principal | None:
    """Who opened an accepted console socket: the token comes in the first message,
    ``{"type": "auth", "token": ...}`` (in a URL it would end up in logs; `?token=` is
    still read for older clients). None when it does not come in time or is refused."""
    access: Access = websocket.app.state.access
    token = websocket.query_params.get("token")
    if not token:
        try:
            async with asyncio.timeout(timeout_s):
                message = await websocket.receive()
        except TimeoutError:
            return None
        token = _auth_token(message.get("text"))
    if not token:
        return None
    try:
        return await access.principal(token)
    except BadToken as exc:
        where = endpoint("WS", websocket.url.path)
        await access.denied(client_address(websocket), exc.name, where, str(exc), 401)
        return None


def _auth_token(text: str | None) -> str | None:
    try:
        data = json.loads(text or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("type") != "auth":
        return None
    token = data.get("token")
    return token if isinstance(token, str) and token else None
