"""The whole dfr server (`dfr serve`, simulated drones) in a process of its own, for video
tests whose viewers run in the test's process: started, stopped as an operator stops it
(SIGTERM) or crashed (SIGKILL to its process group: the server, its simulator, encoders
and MAVSDK servers, as when the machine dies)."""

from __future__ import annotations

import contextlib
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from dfr.auth import Role, write_users_file
from dfr.loopback import LOOPBACK, free_tcp_port, free_udp_block
from tests import simulator

REPO = Path(__file__).resolve().parents[2]
PASSWORDS = {"disp": "disp-pw", "rtcc": "rtcc-pw", "admin": "admin-pw", "pilot": "pilot-pw"}
ROLES = {"disp": Role.DISPATCHER, "rtcc": Role.RTCC, "admin": Role.ADMIN, "pilot": Role.PILOT}
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0


class DfrServer:
    """One `dfr serve` on `state_dir` (kept between runs: a restart finds its database)."""

    def __init__(self, state_dir: Path, ca_cert: Path | None = None, **settings: object) -> None:
        """`settings` as DFR_ variables; with `tls_cert_file` the server speaks HTTPS, and
        its certificate is checked against `ca_cert`."""
        self.state_dir = state_dir
        self.settings = settings
        self.port = free_tcp_port()
        scheme = "https" if "tls_cert_file" in settings else "http"
        self.base_url = f"{scheme}://{LOOPBACK}:{self.port}"
        #: What httpx checks the server's certificate with.
        self.verify: ssl.SSLContext | bool = (
            ssl.create_default_context(cafile=ca_cert) if ca_cert is not None else True
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def database(self) -> Path:
        return self.state_dir / "dfr.sqlite"

    def start(self, wait_for_drones: bool = False) -> None:
        """Start and wait until the server answers (and, if asked, every drone is ready)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        users = self.state_dir / "users.toml"
        write_users_file(users, {n: (ROLES[n], pw) for n, pw in PASSWORDS.items()})
        values: dict[str, object] = {
            "state_dir": self.state_dir,
            "users_file": users,
            "host": LOOPBACK,
            "port": self.port,
            "sim_speed_factor": simulator.SERVER_SPEED_FACTOR,
            "sim_port_base": free_udp_block(3),
            "video_width": 320,
            "video_height": 180,
            "video_fps": 15,
            **self.settings,
        }
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p
            ),
            **{f"DFR_{k.upper()}": str(v) for k, v in values.items()},
        }
        log = (self.state_dir / "server.log").open("ab")
        with log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "dfr.cli", "serve"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, to crash it whole
            )
        self._wait_until(lambda: self._health() in (200, 503), "answer")
        if wait_for_drones:
            self._wait_until(lambda: self._health() == 200, "have its drones connected")
            headers = self.headers("admin")
            self._wait_until(
                lambda: all(
                    s["drone"]["healthy"]
                    for s in httpx.get(
                        f"{self.base_url}/api/stations", headers=headers, verify=self.verify
                    ).json()
                ),
                "have its drones pass their preflight checks",
            )

    def stop(self) -> None:
        """Stop as an operator does (SIGTERM): the server shuts down in order."""
        process = self._running()
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        finally:
            self._reap_group(process)

    def crash(self) -> None:
        """Kill the server and every process it started at once (SIGKILL), mid-flight."""
        process = self._running()
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT_S)
        self._process = None

    def close(self) -> None:
        """Stop the server if it still runs (safe to call twice)."""
        if self._process is not None:
            self.stop()

    def token(self, name: str) -> str:
        response = httpx.post(
            f"{self.base_url}/api/login",
            json={"username": name, "password": PASSWORDS[name]},
            verify=self.verify,
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["token"])

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}

    def log_tail(self, lines: int = 30) -> str:
        text = (self.state_dir / "server.log").read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _running(self) -> subprocess.Popen[bytes]:
        assert self._process is not None, "the server is not running"
        return self._process

    def _reap_group(self, process: subprocess.Popen[bytes]) -> None:
        """Whatever the server left of its own process group goes with it."""
        self._process = None
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    def _health(self) -> int:
        return httpx.get(f"{self.base_url}/api/health", timeout=2, verify=self.verify).status_code

    def _wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            process = self._running()
            if process.poll() is not None:
                raise AssertionError(
                    f"dfr serve exited with {process.returncode}:\n{self.log_tail()}"
                )
            try:
                if ready():
                    return
                last = "not yet"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.3)
        raise AssertionError(f"dfr serve did not {what} (last: {last}):\n{self.log_tail()}")


#: A scene near Pueblo's headquarters, clear of every no-fly zone.
SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "x"}


async def dispatched_and_shared(
    disp: httpx.AsyncClient, station_id: str = "hq"
) -> tuple[dict, int, dict]:
    """A call at SCENE flown from `station_id` (a dispatcher's client), and a share link
    for it: the call, the sortie's id and the link."""
    call = (await disp.post("/api/calls", json=SCENE)).json()
    sent = await disp.post(f"/api/calls/{call['id']}/dispatch", json={"station_id": station_id})
    assert sent.status_code == 200, sent.text
    link = (await disp.post(f"/api/calls/{call['id']}/share")).json()
    return call, int(sent.json()["sortie"]["id"]), link
