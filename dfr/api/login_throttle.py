"""Refuse logins from a throttled address before anything else is spent on them: no body
read, no JSON parsed, no validation; a flood of guesses then costs the server almost
nothing (see `dfr.login_guard`), and its audit entries are bounded (`dfr.refusal_log`)."""

from __future__ import annotations

import math

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from dfr.access import UNKNOWN, Access

LOGIN_PATH = "/api/login"


class LoginThrottle:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == LOGIN_PATH and scope["method"] == "POST":
            app = scope.get("app")  # set by Starlette before its middleware runs
            access: Access | None = getattr(app.state, "access", None) if app else None
            client = scope.get("client")
            address = client[0] if client else "unknown"
            wait_s = access.logins.address_retry_after_s(address) if access is not None else 0.0
            if access is not None and wait_s > 0:
                reason = "too many failed logins: wait before trying again"
                # Audited within the refusal log's bound; the name is in the body, unread.
                await access.login_throttled(address, UNKNOWN, reason)
                await too_many(reason, wait_s)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def too_many(detail: str, wait_s: float) -> JSONResponse:
    """429 with a Retry-After of whole seconds (at least one)."""
    headers = {"Retry-After": str(max(1, math.ceil(wait_s)))}
    return JSONResponse({"detail": detail}, status_code=429, headers=headers)
