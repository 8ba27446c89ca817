"""dfr and its simulated drones as separate processes, for benchmarks and fault drills
that must crash a server the way a machine does (kill -9) and start it again.

    with SimulatedDrones(stations, speed, port_base) as sim, ServerProcess(args, env, base) as dfr:
        dfr.start()
        dfr.kill()   # SIGKILL, as a crash
        dfr.start()  # the same state directory: a restart

Both run in sessions of their own, so a benchmark's Ctrl-C does not reach them
and their output goes to a log file, not the terminal.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from missions.profile import Station

PX4_PORT_BASE = 14540  # PX4 SITL instance i talks to this port + i


class ServerProcess:
    """`dfr serve …` as a child process; `start()` waits until /api/health answers 200."""

    def __init__(self, args: Sequence[str], env: dict[str, str], base: str, log: Path) -> None:
        self.args = [str(Path(sys.executable).with_name("dfr")), "serve", *args]
        self.env = env
        self.base = base
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, healthy_within_s: float = 120.0) -> float:
        """Start the server; returns the seconds it took to answer health 200."""
        started = time.monotonic()
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(
                self.args, env=self.env, stdout=out, stderr=out, start_new_session=True
            )
        deadline = started + healthy_within_s
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/api/health", timeout=2.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            if self._proc.poll() is not None:
                raise RuntimeError(f"dfr serve exited ({self._proc.returncode}); see {self.log}")
            time.sleep(0.1)
        raise RuntimeError(f"dfr serve was not healthy within {healthy_within_s:g} s")

    def kill(self) -> None:
        """SIGKILL the server alone, as a crash would: nothing of it gets to clean up."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()

    def stop(self) -> None:
        """Stop the server and anything it left in its session."""
        proc = self._proc
        if proc is None:
            return
        _terminate(proc, timeout_s=20)
        with_group = session_members(proc.pid)
        for pid in with_group:
            _kill(pid)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class SimulatedDrones:
    """Simulated drones in a process of their own, one per station, that fly on when
    the server dies: the built-in simulator (``python -m sitl``, vehicle i at
    udpin://127.0.0.1:(port_base + i)) or, with `px4`, PX4 SITL instances
    (``python -m sitl.px4_launcher``, DFR_PX4_DIR; instance i at port 14540 + i)."""

    def __init__(
        self,
        stations: Sequence[Station],
        speed_factor: float,
        port_base: int,
        log: Path,
        px4: bool = False,
        fast_hz: float | None = None,
    ) -> None:
        """`fast_hz`: the rate of the simulator's ~50 Hz streams in vehicle time (its
        default 50 Hz; at a speed factor K, 50/K keeps them at 50 Hz of wall time)."""
        if px4:
            self.args = [sys.executable, "-m", "sitl.px4_launcher"]
            port_base = PX4_PORT_BASE
        else:
            self.args = [sys.executable, "-m", "sitl", "--quiet", "--local-port-base", "0"]
            self.args += ["--api-port-base", str(port_base)]
            if fast_hz is not None:
                self.args += ["--fast-hz", str(fast_hz)]
        self.args += ["--speed", str(speed_factor)]
        for s in stations:
            home = f"{s.position.latitude_deg},{s.position.longitude_deg},{s.ground_alt_amsl_m}"
            self.args += ["--home", home]
        self.addresses = [f"udpin://127.0.0.1:{port_base + i}" for i in range(len(stations))]
        self.log = log
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> SimulatedDrones:
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen(self.args, stdout=out, stderr=out, start_new_session=True)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            _terminate(self._proc, timeout_s=10)


def session_members(session_id: int) -> list[int]:
    """Live processes of a session (a child started with start_new_session=True leads
    one whose id is its pid), from /proc; empty where there is no /proc."""
    members = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == session_id:
            members.append(int(entry.name))
    return members


def _terminate(proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM a running child, SIGKILL it after `timeout_s`, and reap it."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
