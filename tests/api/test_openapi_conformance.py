"""Every HTTP endpoint, fuzzed by schemathesis from the server's own OpenAPI document:
as each role, as an officer's share link and with no (or a made-up) token, no request
makes a 5xx, and every answer is one the document lists, with its content type and body.

The server is the real one: `dfr serve` on a free loopback port, in a process of its own,
with simulated drones over real UDP MAVLink (its log, with the traceback of any 5xx, is
`server.log` in the module's temporary directory). Generation is derandomized and bounded
per endpoint, so a failure shows again on the next run and the module stays within about
two minutes on two cores. No endpoint is left out, and none flies a drone: the calls made
here are far outside the deployment, and the made-up station ids name no station.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from dfr.loopback import LOOPBACK, free_tcp_port
from dfr.settings import Settings
from tests.api.conftest import PASSWORDS, WEBHOOK_TOKEN, make_settings

EXAMPLES_PER_ENDPOINT = 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Who asks: each role's session, an officer's share link, and nobody (schemathesis then
#: sends no token or one it made up).
WHO = ("disp", "pilot", "rtcc", "admin", "officer", "nobody")
ROLES = ("disp", "pilot", "rtcc", "admin")
#: Far outside the deployment's area: no drone can ever be sent to a call there.
NOWHERE = {"latitude_deg": -45.0, "longitude_deg": 170.0, "priority": 3, "summary": "fuzz"}
START_TIMEOUT_S = 90.0
REPO = Path(__file__).resolve().parents[2]
#: Path parameters also tried with an id that exists, so that requests get past the lookup:
#: a real drone's video stream (WHEP) and a real drone (pilot commands; none is flying).
#: Each run adds a call of its own, at NOWHERE.
KNOWN_IDS = {"stream_id": "dfr-1", "drone_id": "dfr-1"}


@schemathesis.serializer("application/sdp")
def sdp_text(context: schemathesis.SerializationContext, value: object) -> bytes:
    """WHEP offers are SDP text: send what was generated as it is."""
    return value.encode() if isinstance(value, str) else str(value).encode()


@dataclass(frozen=True)
class LiveApi:
    """The server, a session per role, and a spare one per role to log out with."""

    base_url: str
    sessions: dict[str, str] = field(default_factory=dict)
    spares: dict[str, str] = field(default_factory=dict)

    def login(self, name: str) -> str:
        response = httpx.post(
            f"{self.base_url}/api/login",
            json={"username": name, "password": PASSWORDS[name]},
            timeout=10,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        """POST as the dispatcher; the JSON answer."""
        headers = {"Authorization": f"Bearer {self.sessions['disp']}"}
        response = httpx.post(f"{self.base_url}{path}", headers=headers, timeout=10, **kwargs)
        assert response.is_success, response.text
        return dict(response.json())


@contextlib.contextmanager
def serving(settings: Settings, log_path: Path) -> Iterator[str]:
    """`dfr serve` as `settings` say, in a process of its own (its event loop then shares no
    interpreter with the fuzzing); yields the base URL once it answers, stops it on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DFR_")}
    for name, value in settings.model_dump(mode="json", exclude_none=True).items():
        # As an operator writes them: text as it is, lists and the like as JSON.
        env[f"DFR_{name.upper()}"] = value if isinstance(value, str) else json.dumps(value)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    base_url = f"http://{settings.host}:{settings.port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dfr.cli", "serve"], cwd=REPO, env=env, stdout=log, stderr=log
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the server did not start"
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base_url}/openapi.json", timeout=2).is_success:
                    break
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_ready(base_url: str, timeout_s: float = 90.0) -> None:
    """Every drone connected, passing its preflight checks, its dock set-up verified."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=base_url, timeout=10) as client:
        while not all(client.get("/api/health").json()["ready"].values()):
            assert time.monotonic() < deadline, "drones did not get ready for a dispatch"
            time.sleep(0.2)


@pytest.fixture(scope="module")
def live_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    state = tmp_path_factory.mktemp("openapi")
    settings = make_settings(state, host=LOOPBACK, port=free_tcp_port())
    with serving(settings, state / "server.log") as base_url:
        # Every login before the fuzzing: its made-up logins soon throttle this address.
        api = LiveApi(base_url)
        for name in ROLES:
            api.sessions[name] = api.login(name)
            api.spares[name] = api.login(name)
        wait_ready(base_url)
        yield api


@pytest.fixture(scope="module")
def schemas(live_api: LiveApi) -> dict[bool, schemathesis.BaseSchema]:
    """The served document, twice: with schemathesis making up tokens (for nobody) and
    without (every other caller sends its own)."""
    document = httpx.get(f"{live_api.base_url}/openapi.json", timeout=10).json()
    return {
        made_up: schemathesis.openapi.from_dict(
            document,
            config=schemathesis.Config.from_dict(
                {
                    "base-url": live_api.base_url,
                    "generation": {"with-security-parameters": made_up},
                }
            ),
        )
        for made_up in (True, False)
    }


def fuzz(
    operation: schemathesis.APIOperation, headers: dict[str, str], known: dict[str, Any]
) -> None:
    """Valid and invalid requests to `operation`, each answer checked against the document;
    path parameters named in `known` are also tried with those values."""
    fixed = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append(operation.as_strategy(mode))
        if fixed:
            strategies.append(operation.as_strategy(mode, path_parameters=fixed))

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_ENDPOINT,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=st.one_of(strategies))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

    check()


@pytest.mark.parametrize("who", WHO)
def test_every_answer_is_documented_and_none_is_a_server_error(
    schemas: dict[bool, schemathesis.BaseSchema],
    live_api: LiveApi,
    who: str,
    subtests: pytest.Subtests,
) -> None:
    call = live_api.post("/api/calls", json=NOWHERE)
    known = {**KNOWN_IDS, "call_id": call["id"]}
    if who == "officer":
        token: str | None = live_api.post(f"/api/calls/{call['id']}/share")["token"]
    else:
        token = live_api.sessions.get(who)
    for result in schemas[token is None].get_all_operations():
        operation = result.ok()
        headers = {}
        if token is not None:
            spare = live_api.spares.get(who) if operation.path == "/api/logout" else None
            # The webhook secret too, so that webhooks get past it (other routes ignore it).
            headers = {"Authorization": f"Bearer {spare or token}", "X-DFR-Token": WEBHOOK_TOKEN}
        with subtests.test(msg=operation.label):
            fuzz(operation, headers, known)
