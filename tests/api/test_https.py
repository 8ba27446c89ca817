"""`dfr serve` over HTTPS with a department's certificate: the consoles, their WebSocket
and an officer's live video all work over TLS, the pages tell browsers to stay on HTTPS,
and a certificate the server cannot use stops it at start with the reason."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.pki import Pki, make_pki
from tests.video.dfr_server import REPO, DfrServer, dispatched_and_shared
from web.video.whep_client import WhepViewer

TIMEOUT_S = 60.0
#: The officer's address as a reverse proxy on this machine forwards it (loopback too).
PROXIED = "127.0.0.9"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "department")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[DfrServer]:
    live = DfrServer(
        tmp_path_factory.mktemp("https"),
        ca_cert=pki.ca_cert,
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
    )
    live.start(wait_for_drones=True)
    try:
        yield live
    finally:
        live.close()


def test_consoles_and_pages_over_https(server: DfrServer, pki: Pki) -> None:
    assert server.base_url.startswith("https://")
    with httpx.Client(base_url=server.base_url, verify=server.verify, timeout=30) as client:
        page = client.get("/dispatcher")
        assert page.status_code == 200
        assert page.headers["strict-transport-security"] == "max-age=31536000"
        stations = client.get("/api/stations", headers=server.headers("disp"))
        assert stations.status_code == 200
        assert {s["id"] for s in stations.json()} == {"hq", "bessemer", "eastside"}
    # A client that does not know the department's CA is not fooled into trusting it.
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{server.base_url}/api/health", timeout=10)


async def test_the_console_socket_over_tls(server: DfrServer, pki: Pki) -> None:
    url = server.base_url.replace("https://", "wss://") + "/api/ws"
    token = server.token("disp")
    async with asyncio.timeout(TIMEOUT_S), websockets.connect(url, ssl=server.verify) as socket:
        await socket.send(json.dumps({"type": "auth", "token": token}))
        kinds = set()
        while "telemetry" not in kinds:
            kinds.add(json.loads(await socket.recv()).get("type"))


@pytest.mark.usefixtures("loopback_ice")
async def test_an_officer_watches_over_https(server: DfrServer, pki: Pki) -> None:
    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers=server.headers("disp"),
        verify=server.verify,
        timeout=TIMEOUT_S,
    ) as disp:
        _, _, link = await dispatched_and_shared(disp)
    async with httpx.AsyncClient(
        base_url=server.base_url,
        # As a reverse proxy on this machine says whom it forwards for.
        headers={"Authorization": f"Bearer {link['token']}", "X-Forwarded-For": PROXIED},
        verify=server.verify,
        timeout=TIMEOUT_S,
    ) as officer:
        phone = WhepViewer(f"{server.base_url}/whep/dfr-1", timeout_s=TIMEOUT_S)
        try:
            await phone.connect(officer)
            async with asyncio.timeout(TIMEOUT_S):
                await phone.first_frame.wait()
            assert phone.session_url is not None
            assert phone.session_url.startswith(server.base_url)
        finally:
            await phone.close(officer)
    async with httpx.AsyncClient(
        base_url=server.base_url, headers=server.headers("admin"), verify=server.verify
    ) as admin:
        views = (await admin.get("/api/video/views")).json()
    (watched,) = [v for v in views if v["principal"] == "officer-link:disp"]
    assert watched["address"] == PROXIED  # who watched, not the proxy


def serve(*options: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dfr.cli", "serve", *map(str, options)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_certificate_the_server_cannot_use_stops_it_at_start(tmp_path: Path, pki: Pki) -> None:
    other = make_pki(tmp_path / "other", "other")
    state = ("--state-dir", tmp_path / "state", "--port", "0")
    mismatched = serve("--tls-cert", pki.server_cert, "--tls-key", other.server_key, *state)
    assert mismatched.returncode == 2
    assert "cannot serve HTTPS with certificate" in mismatched.stderr
    assert "KEY_VALUES_MISMATCH" in mismatched.stderr
    missing = serve("--tls-cert", tmp_path / "none.pem", "--tls-key", pki.server_key, *state)
    assert missing.returncode == 2
    assert "No such file or directory" in missing.stderr
    alone = serve("--tls-cert", pki.server_cert, *state)
    assert alone.returncode == 2
    assert "tls_cert_file and tls_key_file go together" in alone.stderr
