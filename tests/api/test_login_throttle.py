"""A throttled address is refused before its request body is read."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from dfr.api.login_throttle import LoginThrottle
from dfr.auth import BadCredentials, UserDirectory
from dfr.login_guard import LoginGuard, LoginLimits


async def test_a_throttled_address_gets_429_without_the_app_reading_the_body() -> None:
    bodies: list[bytes] = []

    async def login(request: Request) -> JSONResponse:
        bodies.append(await request.body())
        return JSONResponse({"detail": "wrong"}, status_code=401)

    app = Starlette(routes=[Route("/api/login", login, methods=["POST"])])
    app.add_middleware(LoginThrottle)
    limits = LoginLimits(account_failures=100, address_failures=2, window_s=60.0)
    async with LoginGuard(UserDirectory([]), limits).running() as guard:
        app.state.access = SimpleNamespace(logins=guard)
        for name in ("a", "b"):
            with pytest.raises(BadCredentials):
                await guard.authenticate(name, "x", "testclient")
        client = TestClient(app)
        refused = client.post("/api/login", content=b'{"username": "c"}')
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 59
        assert bodies == []
        assert client.get("/api/login").status_code == 405  # other methods pass through
