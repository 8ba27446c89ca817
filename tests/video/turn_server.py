"""A real TURN server (Debian's coturn) on loopback for the video tests, checking
credentials as a department's would: the TURN REST API's shared secret.

Without coturn the TURN cases skip, saying why; under CI (CI=true) they fail instead:
`make system-deps` installs it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dfr.loopback import LOOPBACK, free_udp_block, free_udp_port

SECRET = "a-secret-shared-with-the-turn-server"
RELAY_PORTS = 40
START_TIMEOUT_S = 10.0


class TurnServer:
    """coturn listening on loopback `port`, relaying from a block of loopback ports."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_udp_port()
        self.url = f"turn:{LOOPBACK}:{self.port}?transport=udp"
        self.secret = SECRET
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, binary: str) -> None:
        first = free_udp_block(RELAY_PORTS)
        log = self.directory / "turnserver.log"
        self._process = subprocess.Popen(
            [
                binary, "-n",  # no configuration file: everything is here
                f"--listening-ip={LOOPBACK}", f"--relay-ip={LOOPBACK}",
                f"--listening-port={self.port}",
                f"--min-port={first}", f"--max-port={first + RELAY_PORTS - 1}",
                "--use-auth-secret", f"--static-auth-secret={self.secret}", "--realm=dfr",
                "--allow-loopback-peers",  # the relay's peers are on loopback too
                "--no-tls", "--no-dtls", "--no-cli",
                f"--db={self.directory / 'turndb'}",
                "--no-stdout-log", f"--log-file={log}", "--simple-log",
                f"--pidfile={self.directory / 'turnserver.pid'}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_until_listening()

    def log(self) -> str:
        path = self.directory / "turnserver.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _wait_until_listening(self) -> None:
        """Until a STUN binding request on its port is answered."""
        # A STUN binding request: type 0x0001, length 0, the magic cookie, a transaction id.
        request = bytes.fromhex("000100002112a442") + os.urandom(12)
        deadline = time.monotonic() + START_TIMEOUT_S
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.2)
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise AssertionError(f"coturn exited:\n{self.log()}")
                sock.sendto(request, (LOOPBACK, self.port))
                try:
                    if sock.recv(2048)[:2] == b"\x01\x01":  # binding success
                        return
                except TimeoutError:
                    continue
        raise AssertionError(f"coturn did not answer on {self.port}:\n{self.log()}")


@contextmanager
def turn_server(directory: Path) -> Iterator[TurnServer]:
    binary = shutil.which("turnserver")
    if binary is None:
        why = "coturn (turnserver) is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{why}: CI runs the TURN tests (make system-deps installs it)")
        pytest.skip(why)
    server = TurnServer(directory)
    server.start(binary)
    try:
        yield server
    finally:
        server.stop()
