"""A throttled address is refused before its request body is read, and audited."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dfr.access import Access
from dfr.api.login_throttle import LoginThrottle
from dfr.auth import BadCredentials, TokenIssuer, UserDirectory
from dfr.refusal_log import RefusalLog
from dfr.store import REFUSED, Store

ADDRESS = "192.0.2.7"


async def test_a_throttled_address_gets_429_without_the_app_reading_the_body(tmp_path) -> None:
    bodies: list[bytes] = []

    async def login(request: Request) -> JSONResponse:
        bodies.append(await request.body())
        return JSONResponse({"detail": "wrong"}, status_code=401)

    app = Starlette(routes=[Route("/api/login", login, methods=["POST"])])
    app.add_middleware(LoginThrottle)
    users = UserDirectory([])
    async with (
        Store.open(tmp_path / "dfr.sqlite") as store,
        RefusalLog.running(store, per_address=5, window_s=3600.0) as refusals,
    ):
        access = Access(users, TokenIssuer("key", 60.0, 60.0), store, refusals)
        async with access.running():
            app.state.access = access
            for i in range(access.logins.limits.address_failures):
                with pytest.raises(BadCredentials):
                    await access.login(f"guess-{i}", "x", ADDRESS)
            transport = httpx.ASGITransport(app=app, client=(ADDRESS, 50000))
            async with httpx.AsyncClient(transport=transport, base_url="http://dfr") as client:
                refused = await client.post("/api/login", content=b'{"username": "c"}')
                assert refused.status_code == 429
                assert int(refused.headers["Retry-After"]) >= 1
                assert bodies == []
                assert (await client.get("/api/login")).status_code == 405  # passes through
        entries = await store.audit_log(limit=5000)
    throttled = [e for e in entries if e.outcome == REFUSED and "too many" in e.reason]
    assert [(e.action, e.actor, e.details["address"]) for e in throttled] == [
        ("login", "unknown", ADDRESS)
    ]
    failed = [e for e in entries if e.reason == "unknown user or wrong password"]
    assert len(failed) == access.logins.limits.address_failures
