"""The server subscribes to the CAD's EIDO server its deployment names ([eido]
subscribe_url), on its own, and a notified incident becomes a call on its consoles."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from websockets.sync.server import ServerConnection, serve

from dfr.cli import server_app
from dfr.eido_subscriber import SUBPROTOCOL
from dfr.loopback import LOOPBACK
from tests.api.conftest import login, make_settings
from tests.deployments import edited_pueblo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eido"
TOKEN = "cad-server-token"
WAIT_S = 90.0  # a limit, never a measure: the server starts its drones first


class CadServer:
    """A CAD's EIDO server in a thread: accepts one subscription, notifies one incident,
    and hands on what the subscriber sent."""

    def __init__(self) -> None:
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self._server = serve(self._handler, LOOPBACK, 0, subprotocols=[SUBPROTOCOL])
        self.url = f"ws://{LOOPBACK}:{self._server.socket.getsockname()[1]}/ent"

    def _handler(self, websocket: ServerConnection) -> None:
        subscribe = json.loads(websocket.recv())
        subscribe["authorization"] = websocket.request.headers.get("Authorization")
        self.received.put(subscribe)
        request_id = subscribe["subscribe"]["requestId"]
        answer = {"requestId": request_id, "subscriptionId": "s-1", "statusCode": 200}
        websocket.send(json.dumps({"subscribeResponse": {**answer, "statusText": "OK"}}))
        eido = json.loads((FIXTURES / "point.json").read_text())
        event = {"subscriptionId": "s-1", "transactionId": "t-1", "notification": [eido]}
        websocket.send(json.dumps({"event": event}))
        self.received.put(json.loads(websocket.recv()))
        for _ in websocket:  # until the subscriber goes
            pass

    def __enter__(self) -> CadServer:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


@pytest.fixture
def cad() -> Iterator[CadServer]:
    with CadServer() as server:
        yield server


def test_the_server_subscribes_to_its_deployments_eido_server(tmp_path: Path, cad) -> None:
    deployment = edited_pueblo(tmp_path, r"^# subscribe_url = .*$", f'subscribe_url = "{cad.url}"')
    settings = make_settings(tmp_path, deployment=deployment, eido_subscribe_token=TOKEN)
    with TestClient(server_app(settings)) as client:
        subscribed = cad.received.get(timeout=WAIT_S)
        answered = cad.received.get(timeout=WAIT_S)
        calls = client.get("/api/calls", headers=login(client, "disp")).json()
    assert subscribed["subscribe"]["requestType"] == "EIDO"
    assert subscribed["authorization"] == f"Bearer {TOKEN}"
    assert answered["eventResponse"] == {
        "transactionId": "t-1",
        "statusCode": 200,
        "statusText": f"EIDO 1: stored as call {calls[0]['id']}",
    }
    assert [(c["source"], c["priority"]) for c in calls] == [("eido", 1)]
