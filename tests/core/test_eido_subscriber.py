"""The NENA-STA-024 subscriber against a small EIDO server on 127.0.0.1: it subscribes
with the subprotocol and its token, takes each notified EIDO through the real intake (a
real SQLite store), answers every event, passes over garbage and comes back after a drop."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from dfr.active_sorties import SortieBoard
from dfr.deployment import Deployment
from dfr.eido_intake import EidoIntake
from dfr.eido_subscriber import SUBPROTOCOL, EidoSubscriber, SubscriberSettings
from dfr.events import EventBus
from dfr.loopback import LOOPBACK, free_tcp_port
from dfr.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eido"
TOKEN = "cad-server-token"
WAIT_S = 20.0  # a limit on each wait, never a measure: the answers come in milliseconds


def eido(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def event(transaction_id: str, *documents: object) -> str:
    notification = {"subscriptionId": "sub-1", "transactionId": transaction_id}
    return json.dumps({"event": {**notification, "notification": list(documents)}})


@dataclass
class EidoServer:
    """A CAD's EIDO server: records each connection's subprotocol, Authorization header and
    subscription, then runs `script` on it (None: accept the subscription and wait)."""

    script: Callable[[ServerConnection, EidoServer], Awaitable[None]] | None = None
    connections: list[dict[str, Any]] = field(default_factory=list)
    subscribed: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    url: str = ""

    async def handler(self, websocket: ServerConnection) -> None:
        subscribe = json.loads(await websocket.recv())["subscribe"]
        self.connections.append(
            {
                "subprotocol": websocket.subprotocol,
                "authorization": websocket.request.headers.get("Authorization"),
                "subscribe": subscribe,
            }
        )
        answer = {"requestId": subscribe["requestId"], "subscriptionId": "sub-1"}
        answer |= {"statusCode": 200, "statusText": "OK"}
        await websocket.send(json.dumps({"subscribeResponse": answer}))
        await self.subscribed.put(subscribe)
        if self.script is not None:
            await self.script(websocket, self)
        else:
            await websocket.wait_closed()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[EidoServer]:
        async with serve(self.handler, LOOPBACK, 0, subprotocols=[SUBPROTOCOL]) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://{LOOPBACK}:{port}/ent"
            yield self


async def eventually(predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not predicate():  # noqa: ASYNC110 - the subscriber's status has no event
            await asyncio.sleep(0.02)


async def answer_to(websocket: ServerConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        return json.loads(await websocket.recv())["eventResponse"]


@pytest.fixture
async def intake(tmp_path: Path, pueblo: Deployment) -> AsyncIterator[tuple[EidoIntake, Store]]:
    async with Store.open(tmp_path / "dfr.sqlite") as store:

        async def no_retarget(active: object, scene: object) -> bool:
            return False

        yield EidoIntake(pueblo.eido, store, SortieBoard(), EventBus(), no_retarget), store


def settings(url: str, token: str | None = TOKEN) -> SubscriberSettings:
    return SubscriberSettings(url, token=token, reconnect_min_s=0.05, reconnect_max_s=0.2)


async def test_it_subscribes_takes_notifications_and_answers_each(intake) -> None:
    intake_, store = intake
    answers: list[dict[str, Any]] = []

    async def script(websocket: ServerConnection, server: EidoServer) -> None:
        await websocket.send(event("t-1", eido("point")))
        answers.append(await answer_to(websocket))
        await websocket.send(event("t-2", eido("point-moved"), eido("circle")))
        answers.append(await answer_to(websocket))
        await websocket.wait_closed()

    async with (
        EidoServer(script).serving() as server,
        EidoSubscriber.running(settings(server.url), intake_.take_document) as subscriber,
    ):
        await eventually(lambda: len(answers) == 2)
        assert subscriber.status.subscribed
        assert subscriber.status.subscription_id == "sub-1"
    first = server.connections[0]
    assert first["subprotocol"] == SUBPROTOCOL
    assert first["authorization"] == f"Bearer {TOKEN}"
    assert first["subscribe"]["requestType"] == "EIDO"
    assert first["subscribe"]["requestSubType"] == "new"
    assert first["subscribe"]["requestAccepts"] == "application/emergency.eido+json"
    assert answers[0] == {
        "transactionId": "t-1",
        "statusCode": 200,
        "statusText": "EIDO 1: stored as call 1",
    }
    assert answers[1]["statusCode"] == 200
    assert answers[1]["statusText"].startswith("EIDO 1: call 1 updated; its scene moved")
    assert "EIDO 2: stored as call 2" in answers[1]["statusText"]
    calls = await store.list_calls()
    assert [(c.source, c.latitude_deg) for c in calls] == [("eido", 38.2572), ("eido", 38.2544)]
    audit = await store.audit_log()
    assert {e.actor for e in audit if e.action in ("call.create", "call.update")} == {
        "eido-subscriber"
    }


async def test_garbage_is_answered_or_passed_over_and_the_subscriber_goes_on(intake) -> None:
    intake_, store = intake
    answers: list[dict[str, Any]] = []

    async def script(websocket: ServerConnection, server: EidoServer) -> None:
        await websocket.send("this is not JSON")
        await websocket.send(json.dumps(["not", "an", "object"]))
        await websocket.send(json.dumps({"somethingElse": {}}))
        await websocket.send(event("t-bad", {"$id": "x", "note": "not an EIDO"}))
        answers.append(await answer_to(websocket))
        await websocket.send(event("t-civic", eido("civic-only")))
        answers.append(await answer_to(websocket))
        await websocket.send(json.dumps({"event": {"transactionId": "t-empty"}}))
        answers.append(await answer_to(websocket))
        await websocket.send(event("t-good", eido("point")))
        answers.append(await answer_to(websocket))
        await websocket.wait_closed()

    async with (
        EidoServer(script).serving() as server,
        EidoSubscriber.running(settings(server.url), intake_.take_document),
    ):
        await eventually(lambda: len(answers) == 4)
    bad, civic, empty, good = answers
    assert (bad["transactionId"], bad["statusCode"]) == ("t-bad", 400)
    assert "EIDO 1: not an EIDO (NENA-STA-021.1b)" in bad["statusText"]
    assert civic["statusCode"] == 400
    assert "civic address only" in civic["statusText"]
    assert empty["statusCode"] == 400
    assert (good["transactionId"], good["statusCode"]) == ("t-good", 200)
    assert len(server.connections) == 1  # all on the one connection
    assert len(await store.list_calls()) == 1


async def test_a_dropped_connection_is_made_again_and_subscribed_again(intake) -> None:
    intake_, store = intake

    async def drop_the_first(websocket: ServerConnection, server: EidoServer) -> None:
        if len(server.connections) == 1:
            await websocket.close()
            return
        await websocket.send(event("t-after", eido("point")))
        await answer_to(websocket)
        await websocket.wait_closed()

    async with (
        EidoServer(drop_the_first).serving() as server,
        EidoSubscriber.running(settings(server.url), intake_.take_document) as subscriber,
    ):
        async with asyncio.timeout(WAIT_S):
            await server.subscribed.get()
            await server.subscribed.get()  # subscribed again after the drop
        await eventually(lambda: subscriber.status.events == 1)
        assert subscriber.status.sessions == 2
    assert len(server.connections) == 2
    assert len(await store.list_calls()) == 1


async def test_a_refused_or_terminated_subscription_is_tried_again(intake) -> None:
    intake_, _ = intake

    async def refuse_then_terminate(websocket: ServerConnection, server: EidoServer) -> None:
        # (the handler accepted it; this server then ends it at once)
        terminate = {"requestId": "n-1", "subscriptionId": "sub-1"}
        await websocket.send(json.dumps({"terminate": terminate}))
        async with asyncio.timeout(WAIT_S):
            response = json.loads(await websocket.recv())
        server.connections[-1]["terminateResponse"] = response["terminateResponse"]
        await websocket.wait_closed()

    async with (
        EidoServer(refuse_then_terminate).serving() as server,
        EidoSubscriber.running(settings(server.url, token=None), intake_.take_document),
    ):
        async with asyncio.timeout(WAIT_S):
            for _ in range(3):
                await server.subscribed.get()
    assert server.connections[0]["authorization"] is None  # no token: no header
    assert server.connections[0]["terminateResponse"]["statusCode"] == 200


async def test_a_server_that_is_not_there_is_tried_again_quietly(intake) -> None:
    intake_, _ = intake
    url = f"ws://{LOOPBACK}:{free_tcp_port()}/ent"
    async with EidoSubscriber.running(settings(url), intake_.take_document) as subscriber:
        await eventually(lambda: subscriber.status.last_error is not None)
        assert not subscriber.status.subscribed
        assert "Error" in subscriber.status.last_error
