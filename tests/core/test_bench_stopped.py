"""A benchmark stopped with SIGTERM (a CI timeout, `kill`, a closed terminal's
supervisor) stops everything it started: its dfr servers, their mavsdk_servers and its
simulated drones run in sessions of their own, so nothing else would."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

DFR = str(Path(sys.executable).with_name("dfr"))


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _descendants(pid: int) -> dict[int, str]:
    """Each process under `pid`, with its start time (to tell a reused pid)."""
    tree, found, todo = _children(), {}, [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if (started := _started(child)) is not None:
                found[child] = started
                todo.append(child)
    return found


def _started(pid: int) -> str | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_a_benchmark_stopped_with_sigterm_leaves_no_process_behind(
    postgres_url: str, tmp_path: Path
) -> None:
    args = [DFR, "bench", "metro", "--postgres", postgres_url, "--stations", "3"]
    args += ["--seconds", "600", "--speed", "5", "--consoles", "2"]
    bench = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180.0
        seen: dict[int, str] = {}
        while time.monotonic() < deadline and bench.poll() is None:
            seen.update(_descendants(bench.pid))
            serving = [p for p in seen if " serve " in _cmdline(p)]
            if serving and any("mavsdk_server" in _cmdline(p) for p in seen):
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no dfr server with its drones' links came up: {bench.poll()}")
        time.sleep(3.0)
        seen.update(_descendants(bench.pid))
        bench.send_signal(signal.SIGTERM)
        assert bench.wait(timeout=90.0) != 0
        deadline = time.monotonic() + 20.0
        left = seen
        while left and time.monotonic() < deadline:
            left = {p: s for p, s in seen.items() if _started(p) == s}
            time.sleep(0.5)
        assert not left, [_cmdline(p) for p in left]
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
