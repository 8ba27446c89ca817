"""The server signs its audit log: the public key is served to anyone, the checkpoints to
RTCC and admins, every entry carries its hash, and the state dir a stopped server leaves
behind verifies with `dfr audit verify` against a copy of the key taken from the API."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dfr.audit_signing import PublicKey
from dfr.cli import server_app
from dfr.settings import Settings
from tests.api.conftest import login, make_settings

DFR = shutil.which("dfr", path=str(Path(sys.executable).parent)) or "dfr"
EVERY = 3
SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "x"}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("chain"), audit_checkpoint_every=EVERY)


@pytest.fixture(scope="module")
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(server_app(settings)) as test_client:
        yield test_client


def test_the_public_key_is_served_without_a_token(client, settings) -> None:
    response = client.get("/api/audit/public-key")
    assert response.status_code == 200, response.text
    body = response.json()
    key = PublicKey.from_pem(body["public_key_pem"].encode())
    assert body["algorithm"] == "Ed25519"
    assert body["fingerprint"] == key.key_id
    assert body["public_key_pem"] == settings.audit_public_key_path.read_text()
    assert settings.audit_signing_key_path.stat().st_mode & 0o777 == 0o600


def test_checkpoints_are_listed_for_rtcc_and_admins_only(client) -> None:
    disp, rtcc = login(client, "disp"), login(client, "rtcc")
    for _ in range(EVERY):
        assert client.post("/api/calls", json=SCENE, headers=disp).status_code == 201
    assert client.get("/api/audit/checkpoints").status_code == 401
    assert client.get("/api/audit/checkpoints", headers=disp).status_code == 403
    listed = client.get("/api/audit/checkpoints", headers=login(client, "admin"))
    assert listed.status_code == 200
    checkpoints = listed.json()
    assert {c["kind"] for c in checkpoints} == {"interval"}  # the log was empty at start
    assert [c["entry_id"] % EVERY for c in checkpoints] == [0] * len(checkpoints)
    key = PublicKey.from_pem(client.get("/api/audit/public-key").json()["public_key_pem"].encode())
    assert {c["key_id"] for c in checkpoints} == {key.key_id}
    first = client.get("/api/audit/checkpoints", params={"limit": 1}, headers=rtcc)
    assert first.headers["X-Next-After-Id"] == str(checkpoints[0]["id"])
    entries = client.get("/api/audit", params={"limit": 5000}, headers=rtcc).json()
    assert entries[0]["prev_hash"] == "0" * 64
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(entries, entries[1:], strict=False))
    signed = {e["id"]: e["hash"] for e in entries}
    assert all(signed[c["entry_id"]] == c["head_hash"] for c in checkpoints)


def test_the_state_dir_of_a_stopped_server_verifies(tmp_path) -> None:
    settings = make_settings(tmp_path, audit_checkpoint_every=EVERY)
    kept = tmp_path / "kept-elsewhere"
    kept.mkdir()
    with TestClient(server_app(settings)) as client:
        (kept / "dfr-audit.pub").write_text(
            client.get("/api/audit/public-key").json()["public_key_pem"]
        )
        disp = login(client, "disp")
        for _ in range(EVERY + 1):
            client.post("/api/calls", json=SCENE, headers=disp)
    out = subprocess.run(
        [
            DFR,
            "audit",
            "verify",
            "--state-dir",
            settings.state_dir,
            "--public-key",
            kept / "dfr-audit.pub",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "result: INTACT" in out.stdout
    assert "the last entry is the one the latest checkpoint signed" in out.stdout
    assert ", stop, " in out.stdout  # signed as the server stopped
