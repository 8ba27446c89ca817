"""The `mavsdk_server` child process behind one drone link: start, learn its port, stop.

Each drone gets its own server so that two drones never share a gRPC port (two
`System`s on one port silently show the same vehicle). The server is started with
``-p 0`` and reports the gRPC port it chose once it has discovered the vehicle;
until then it is silent, which is how a missing vehicle shows up (as a timeout).
The process is always stopped explicitly: a forgotten one keeps the interpreter
from exiting. On Linux the kernel also kills it when dfr dies without stopping it
(kill -9, a crash): an orphan would keep the drone's UDP port, and the restarted
server could not reach the drone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import sys
from pathlib import Path

log = logging.getLogger(__name__)

_LISTEN = re.compile(r"Server set to listen on [^:\s]+:(\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _die_with_parent() -> list[str]:
    """The command prefix that has Linux SIGKILL the server when dfr dies: util-linux's
    `setpriv --pdeathsig`, which sets it and execs the server (same pid). Python's own
    pre-exec hook would run Python in a child forked from a process with gRPC threads,
    which is not safe. Empty where there is no setpriv."""
    setpriv = shutil.which("setpriv")
    if not sys.platform.startswith("linux") or setpriv is None:
        return []
    return [setpriv, "--pdeathsig", "KILL", "--"]


_PREFIX = _die_with_parent()


class ServerExited(RuntimeError):
    """The server process ended before it reported its port."""


class MavsdkServer:
    """One `mavsdk_server` process bound to one MAVLink address.

    Use ``port = await server.start()`` and always ``await server.stop()``
    (safe to call twice, also after a failed start).
    """

    def __init__(self, binary: Path, mavlink_address: str, name: str) -> None:
        self.binary = binary
        self.mavlink_address = mavlink_address
        self.name = name
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._port: asyncio.Future[int] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self) -> int:
        """Start the server and wait until it found the vehicle; returns the gRPC port.

        Waits without limit: callers wrap it in `asyncio.timeout`.
        Raises ServerExited if the process dies first.
        """
        if self._process is not None:
            raise RuntimeError("server already started")
        self._port = asyncio.get_running_loop().create_future()
        self._process = await asyncio.create_subprocess_exec(
            *_PREFIX,
            str(self.binary),
            "-p",
            "0",
            self.mavlink_address,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        self._reader = asyncio.create_task(self._read_output(), name=f"mavsdk_server {self.name}")
        return await asyncio.shield(self._port)

    async def _read_output(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        assert self._port is not None
        try:
            async for raw in self._process.stdout:
                line = _ANSI.sub("", raw.decode("utf-8", "replace")).strip()
                if not line:
                    continue
                log.debug("%s: %s", self.name, line)
                match = _LISTEN.search(line)
                if match and not self._port.done():
                    self._port.set_result(int(match.group(1)))
        finally:
            if not self._port.done():
                self._port.set_exception(ServerExited(f"mavsdk_server for {self.name} exited"))

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Kill the process and reap it; safe to call twice."""
        process, reader = self._process, self._reader
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            try:
                async with asyncio.timeout(timeout_s):
                    await process.wait()
            except TimeoutError:
                log.warning("mavsdk_server for %s (pid %s) did not exit", self.name, process.pid)
        if reader is not None:
            # The pipe reaches EOF once the process is gone; asyncio.wait never raises
            # the reader's own cancellation into this task.
            await asyncio.wait([reader], timeout=1.0)
            if not reader.done():
                reader.cancel()
                await asyncio.wait([reader])
        if self._port is not None and not self._port.done():
            self._port.cancel()
        # Retrieve a ServerExited nobody awaited, so asyncio does not report it.
        if self._port is not None and self._port.done() and not self._port.cancelled():
            self._port.exception()
