"""Browser tests: the real server on a free loopback port, driven by Debian's headless Chromium.

The server runs `web.server.create_app` in a process of its own (``live_server.py``)
with simulated drones flying faster than real time; the browser is the Debian
`chromium` package, never a downloaded one. Every page is fenced to 127.0.0.1:
a request to anywhere else is blocked and fails the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from dfr.auth import Role, write_users_file
from dfr.loopback import LOOPBACK, free_tcp_port, free_udp_block
from tests import simulator
from tests.chromium import CHROMIUM, CHROMIUM_ARGS

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
SIM_SPEED_FACTOR = simulator.SERVER_SPEED_FACTOR
SERVER_START_TIMEOUT_S = 120.0
ROLES = ("dispatcher", "pilot", "rtcc", "admin", "officer")


@dataclass
class LiveServer:
    """The running server: its address and the test users' passwords."""

    base_url: str
    passwords: dict[str, str]
    log_path: Path
    _tokens: dict[str, str] = field(default_factory=dict)

    def token(self, role: str) -> str:
        if role not in self._tokens:
            response = httpx.post(
                f"{self.base_url}/api/login",
                json={"username": role, "password": self.passwords[role]},
                timeout=10,
            )
            response.raise_for_status()
            self._tokens[role] = response.json()["token"]
        return self._tokens[role]

    def api(self, method: str, path: str, role: str = "dispatcher", **kwargs: Any) -> Any:
        """Call the API as `role`; returns the JSON, raising on an error status."""
        response = httpx.request(
            method,
            f"{self.base_url}{path}",
            headers={"Authorization": f"Bearer {self.token(role)}"},
            timeout=15,
            **kwargs,
        )
        if response.is_error:
            raise AssertionError(f"{method} {path} → {response.status_code}: {response.text}")
        return response.json() if response.content else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


@contextlib.contextmanager
def running_server(
    state_dir: Path,
    deployment: Path | None = None,
    users: dict[str, tuple[Role, str | None, tuple[str, ...]]] | None = None,
    **overrides: Any,
) -> Iterator[LiveServer]:
    """The real server (`create_app`) in a process of its own, every drone ready for a
    dispatch, stopped on exit; `users`: {name: (role, agency, sees)} instead of one user
    per role named after it; `overrides`: more `Settings` fields."""
    state_dir.mkdir(parents=True, exist_ok=True)
    users = users or {role: (Role(role), None, ()) for role in ROLES}
    passwords = {name: secrets.token_urlsafe(12) for name in users}
    users_file = state_dir / "users.toml"
    write_users_file(
        users_file,
        {
            name: (role, passwords[name], agency, sees)
            for name, (role, agency, sees) in users.items()
        },
    )
    port = free_tcp_port()
    settings = {
        "state_dir": str(state_dir),
        "users_file": str(users_file),
        "host": LOOPBACK,
        "port": port,
        "sim_speed_factor": SIM_SPEED_FACTOR,
        "sim_port_base": free_udp_block(3),
    }
    if deployment is not None:
        settings["deployment"] = str(deployment)
    settings.update(overrides)
    log_path = state_dir / "server.log"
    pythonpath = [str(REPO), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("live_server.py")), json.dumps(settings)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://{LOOPBACK}:{port}", passwords, log_path)
    try:
        _wait_until_healthy(server, process)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The built-in Pueblo deployment with simulated drones, for one test module."""
    with running_server(tmp_path_factory.mktemp("dfr-web")) as live:
        yield live


def _wait_until_healthy(server: LiveServer, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"the dfr server exited with {process.returncode} before it was healthy:\n"
                f"{server.log_tail()}"
            )
        try:
            response = httpx.get(f"{server.base_url}/api/health", timeout=2)
            # Connected is not enough: a dispatch before a drone passes its preflight
            # checks and has its dock set-up verified is refused.
            if response.status_code == 200 and all(response.json()["ready"].values()):
                return
            last = f"{response.status_code} {response.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    pytest.fail(
        f"/api/health not 200 with every drone ready within {SERVER_START_TIMEOUT_S:.0f} s "
        f"(last: {last}):\n"
        f"{server.log_tail()}"
    )


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's Chromium "
            "(apt-get install chromium); they never download a browser"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


class Browser:
    """One headless Chromium profile: pages, console errors, requests that left loopback."""

    def __init__(self, context: Any, base_url: str, server: LiveServer) -> None:
        self.context = context
        self.base_url = base_url
        self.server = server
        self.errors: list[str] = []
        self.blocked: list[str] = []
        context.route("**/*", self._fence)
        context.on("page", self._watch)

    def _fence(self, route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if route.request.url.startswith(("data:", "blob:")) or host == LOOPBACK:
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()

    def _watch(self, page: Any) -> None:
        def on_console(message: Any) -> None:
            if message.type == "error":
                self.errors.append(f"{page.url}: console error: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))

    def new_page(self, width: int = 1600, height: int = 900) -> Any:
        page = self.context.new_page()
        page.set_viewport_size({"width": width, "height": height})
        page.set_default_timeout(20_000)
        return page

    def login(self, page: Any, role: str) -> None:
        """Log in through the login page and wait for the role's consoles."""
        page.goto(f"{self.base_url}/")
        page.fill("#username", role)
        page.fill("#password", self.server.passwords[role])
        page.click("#login-button")
        page.wait_for_selector("#consoles a")

    def screenshot(self, page: Any, name: str, full_page: bool = False) -> Path:
        """Save the page, columns scrolled to the top, as test-artifacts/screenshots/NAME.png
        (`full_page`: the whole length of a page that scrolls, not only the window)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("document.querySelectorAll('.column').forEach((c) => { c.scrollTop = 0; })")
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    def assert_clean(self) -> None:
        assert not self.blocked, f"requests left loopback: {self.blocked}"
        assert not self.errors, "errors in the browser console:\n" + "\n".join(self.errors)


@pytest.fixture
def browser(playwright_driver: Any, server: LiveServer, tmp_path: Path) -> Iterator[Browser]:
    """A fresh Chromium profile on `server` (each module may override `server`)."""
    context = playwright_driver.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "chromium-profile"),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1600, "height": 900},
    )
    try:
        yield Browser(context, server.base_url, server)
    finally:
        context.close()
