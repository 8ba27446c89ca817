"""A NENA-STA-024 subscriber: EIDOs from a CAD/EIDO server over a WebSocket, each taken
as `POST /api/eido` takes one.

The shapes are those of NENA's schema for STA-024's messages (NENA911/WebSocket-Subscribe-
Notify, `schema/websocket.yaml`, tag v1.1), one JSON object per text message:

    dfr → server   {"subscribe": {"requestId", "requestType": "EIDO",
                                  "requestSubType": "new", "requestAccepts"}}
    server → dfr   {"subscribeResponse": {"requestId", "subscriptionId",
                                          "statusCode": 200, "statusText"}}
    server → dfr   {"event": {"subscriptionId", "transactionId", "notification": [EIDO, ...]}}
    dfr → server   {"eventResponse": {"transactionId", "statusCode", "statusText"}}
    server → dfr   {"terminate": {"requestId", "subscriptionId"}}
    dfr → server   {"terminateResponse": {"requestId", "subscriptionId", "statusCode",
                                          "statusText"}}

The WebSocket asks for the subprotocol `emergency-ent1.0` and, when a token is set
(DFR_EIDO_SUBSCRIBE_TOKEN), sends it as `Authorization: Bearer`. Each notification's
EIDOs go one after the other through the operations service's intake; the event is
answered with 200 when each was taken (a new call, an update, or a version already
stored), 400 with the reasons when one was refused, 500 when dfr failed. A message
that is not JSON, or not one of these, is logged and passed over; nothing a server
sends stops the subscriber. When the connection cannot be made, drops, the
subscription is refused or terminated, it connects and subscribes again after a
delay that doubles from `reconnect_min_s` to `reconnect_max_s` (with jitter), back
to the minimum once a subscription is accepted.

Only new incidents are subscribed to (`requestSubType` "new"): a server that sends
later versions of them on the same subscription has them taken as updates; dfr
does not subscribe to single incidents.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException
from websockets.typing import Subprotocol

from dfr.eido import EIDO_MEDIA_TYPE, EidoError
from dfr.eido_intake import EidoResult

log = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("emergency-ent1.0")
ACTOR = "eido-subscriber"
MAX_STATUS_TEXT_CHARS = 500

TakeDocument = Callable[[object, str], Awaitable[EidoResult]]
"""The intake: an EIDO decoded from JSON and who sent it (Operations.take_eido_document)."""


class SubscriptionEnded(Exception):
    """The server refused the subscription, ended it, or does not speak STA-024."""


@dataclass(frozen=True, slots=True)
class SubscriberSettings:
    url: str  # ws:// or wss:// (the deployment's [eido] subscribe_url)
    token: str | None = field(default=None, repr=False)  # sent as Authorization: Bearer
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 60.0
    open_timeout_s: float = 10.0  # connecting, and the answer to the subscription
    max_message_bytes: int = 1024 * 1024


@dataclass
class SubscriberStatus:
    """What the subscriber is doing, for logs and tests."""

    subscribed: bool = False
    subscription_id: str | None = None
    sessions: int = 0  # connections that reached a subscription
    events: int = 0  # notifications answered
    last_error: str | None = None


class EidoSubscriber:
    def __init__(
        self, settings: SubscriberSettings, take: TakeDocument, actor: str = ACTOR
    ) -> None:
        self.settings = settings
        self.status = SubscriberStatus()
        self._take = take
        self._actor = actor

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls, settings: SubscriberSettings, take: TakeDocument
    ) -> AsyncIterator[EidoSubscriber]:
        """Subscribe (and keep subscribing) while the block runs."""
        subscriber = cls(settings, take)
        task = asyncio.create_task(subscriber.run(), name="eido subscriber")
        try:
            yield subscriber
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def run(self) -> None:
        """Connect, subscribe, take notifications; again after a delay, until cancelled."""
        delay_s = self.settings.reconnect_min_s
        while True:
            sessions = self.status.sessions
            try:
                await self._session()
                why = "the server closed the connection"
            except (OSError, TimeoutError, WebSocketException, SubscriptionEnded) as exc:
                why = f"{type(exc).__name__}: {exc}"
            except Exception as exc:  # noqa: BLE001 - whatever happened, subscribe again
                log.exception("EIDO subscription to %s failed", self._where)
                why = f"internal error: {type(exc).__name__}"
            self.status.subscribed = False
            self.status.last_error = why
            if self.status.sessions > sessions:
                delay_s = self.settings.reconnect_min_s  # it worked: start the delays again
            wait_s = delay_s * random.uniform(0.5, 1.0)
            log.warning("EIDO subscription to %s: %s; again in %.1f s", self._where, why, wait_s)
            await asyncio.sleep(wait_s)
            delay_s = min(delay_s * 2, self.settings.reconnect_max_s)

    @property
    def _where(self) -> str:
        return self.settings.url.split("?")[0][:200]

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self.settings.token}"} if self.settings.token else {}
        connecting = connect(
            self.settings.url,
            subprotocols=[SUBPROTOCOL],
            additional_headers=headers,
            open_timeout=self.settings.open_timeout_s,
            max_size=self.settings.max_message_bytes,
            proxy=None,  # straight to the server named, whatever the environment says
        )
        async with connecting as websocket:
            if websocket.subprotocol != SUBPROTOCOL:
                raise SubscriptionEnded(f"the server did not take subprotocol {SUBPROTOCOL}")
            await self._subscribe(websocket)
            async for message in websocket:
                await self._handle(websocket, message)

    async def _subscribe(self, websocket: ClientConnection) -> None:
        request_id = str(uuid.uuid4())
        subscribe = {
            "requestId": request_id,
            "requestType": "EIDO",
            "requestSubType": "new",
            "requestAccepts": EIDO_MEDIA_TYPE,
        }
        await websocket.send(json.dumps({"subscribe": subscribe}))
        async with asyncio.timeout(self.settings.open_timeout_s):
            while True:
                answer = _message(await websocket.recv())
                response = answer.get("subscribeResponse") if answer else None
                if isinstance(response, dict) and response.get("requestId") == request_id:
                    break
                log.warning("EIDO subscription: passed over a message before its answer")
        if response.get("statusCode") != 200:
            code, text = response.get("statusCode"), str(response.get("statusText", ""))[:200]
            raise SubscriptionEnded(f"subscription refused: {code} {text}")
        self.status.subscription_id = str(response.get("subscriptionId", ""))
        self.status.subscribed = True
        self.status.sessions += 1
        log.info("EIDO subscription %s to %s", self.status.subscription_id, self._where)

    async def _handle(self, websocket: ClientConnection, raw: str | bytes) -> None:
        message = _message(raw)
        if message is None:
            log.warning("EIDO subscription: passed over a message that is not a JSON object")
            return
        event, terminate = message.get("event"), message.get("terminate")
        if isinstance(event, dict) and isinstance(event.get("transactionId"), str):
            code, text = await self._take_event(event)
            answer = {"transactionId": event["transactionId"], "statusCode": code}
            answer["statusText"] = text[:MAX_STATUS_TEXT_CHARS]
            await websocket.send(json.dumps({"eventResponse": answer}))
            self.status.events += 1
        elif isinstance(terminate, dict):
            answer = {
                "requestId": terminate.get("requestId"),
                "subscriptionId": terminate.get("subscriptionId"),
                "statusCode": 200,
                "statusText": "OK",
            }
            await websocket.send(json.dumps({"terminateResponse": answer}))
            raise SubscriptionEnded("the server terminated the subscription")
        else:
            kinds = ", ".join(str(k)[:40] for k in list(message)[:3])
            log.warning("EIDO subscription: passed over a message of kind %s", kinds)

    async def _take_event(self, event: dict[str, Any]) -> tuple[int, str]:
        """Take each EIDO of a notification: (statusCode, statusText) of the answer."""
        notification = event.get("notification")
        if not isinstance(notification, list) or not notification:
            return 400, "the event carries no notification (a list of EIDOs)"
        taken, refused = [], []
        for number, document in enumerate(notification, start=1):
            try:
                result = await self._take(document, self._actor)
            except EidoError as exc:
                refused.append(f"EIDO {number}: {exc}")
            except Exception:  # noqa: BLE001 - one EIDO must not stop the subscription
                log.exception("EIDO subscription: taking EIDO %d failed", number)
                return 500, f"EIDO {number}: dfr could not take it (internal error)"
            else:
                taken.append(f"EIDO {number}: {result.detail}")
        if refused:
            return 400, "; ".join(refused)
        return 200, "; ".join(taken)


def _message(raw: str | bytes) -> dict[str, Any] | None:
    """A message as a JSON object; None when it is not one."""
    try:
        decoded = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        return None
    return decoded if isinstance(decoded, dict) else None


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")
