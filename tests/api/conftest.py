"""A real server for the API tests: create_app with simulated drones, users from a file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dfr.auth import Role, write_users_file
from dfr.cli import server_app
from dfr.loopback import free_udp_block
from dfr.settings import Settings
from tests import simulator

PASSWORDS = {"disp": "disp-pw", "pilot": "pilot-pw", "rtcc": "rtcc-pw", "admin": "admin-pw"}
ROLES = {"disp": Role.DISPATCHER, "pilot": Role.PILOT, "rtcc": Role.RTCC, "admin": Role.ADMIN}
WEBHOOK_TOKEN = "cad-shared-secret"


def make_settings(tmp: Path, **overrides: object) -> Settings:
    users = tmp / "users.toml"
    write_users_file(users, {n: (ROLES[n], pw) for n, pw in PASSWORDS.items()})
    values: dict[str, object] = {
        "state_dir": tmp / "state",
        "users_file": users,
        "sim_speed_factor": simulator.SERVER_SPEED_FACTOR,
        "sim_port_base": free_udp_block(3),
        "cad_webhook_token": WEBHOOK_TOKEN,
        "telemetry_push_hz": 4.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("api"))


@pytest.fixture(scope="module")
def client(api_settings: Settings) -> Iterator[TestClient]:
    with TestClient(server_app(api_settings)) as test_client:
        wait_ready(test_client)
        yield test_client


def wait_healthy(client: TestClient, timeout_s: float = 90.0) -> None:
    """/api/health is 503 until every drone is connected, then 200."""
    deadline = time.monotonic() + timeout_s
    while (status := client.get("/api/health").status_code) != 200:
        assert status == 503
        assert time.monotonic() < deadline, "drones did not connect"
        time.sleep(0.2)


def wait_ready(client: TestClient, timeout_s: float = 90.0) -> None:
    """Until every drone is ready for a dispatch: its preflight checks pass (PX4 needs a
    few seconds after boot) and its dock set-up is verified."""
    deadline = time.monotonic() + timeout_s
    while not all(client.get("/api/health").json()["ready"].values()):
        assert time.monotonic() < deadline, "drones did not get ready for a dispatch"
        time.sleep(0.2)


def login(client: TestClient, name: str) -> dict[str, str]:
    response = client.post("/api/login", json={"username": name, "password": PASSWORDS[name]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}
