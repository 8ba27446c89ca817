"""Live-video benchmark: encode once and fan out, against one encoder per viewer.

    dfr bench video --viewers 1,10,50,100 [--json]

For each design and viewer count a fresh server process serves one synthetic
1280x720 30 fps stream over loopback, and viewer processes join over WHEP.
Within a common measurement window it reports glass-to-glass latency
(p50/p95, from the timecode drawn into each frame and read back after
decoding), frames per second per viewer, and the server process's CPU use
(% of one core, from its own CPU times).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx

from web.video.stream import EncodeMode

METHOD = """\
Method: one server process per measurement serves one synthetic {size} {fps} fps
stream ({codec}, {bitrate_kbps} kbit/s) on 127.0.0.1. Viewers are aiortc clients in
separate processes (one per 40 viewers, at most 4) that join over WHEP before a
common {window_s:g} s window. {decoders} viewer(s) per run, in a process of their
own, join last (the relay sends to viewers in the order they joined, so they
wait longest), decode every frame and read the timecode drawn into it:
latency = wall clock at decode - clock drawn at
capture (same host, same clock), so it spans drawing, encoding, packetizing,
loopback, jitter buffer and decoding. The other viewers receive every SRTP
packet and count frames (RTP marker bits), bytes and losses from the clear-text
RTP header without decrypting or decoding: decoding 100 720p streams in Python
would need more cores than the server. fps = frames a viewer received in the
window / window length (mean, and the worst viewer). server_cpu_pct = CPU
seconds (user+system) of the server process and its encoding process in the
window / window length x 100 (100 = one core); encoder_cpu_pct = the part of
it spent inside the encoder(s); viewer_processes_cpu_pct = what the simulated
viewers themselves used; load = the machine's one-minute load average (ours
included) at the end of the window: well above {cores}, the machine was
oversubscribed and frame rates and latencies suffer.
"once" is the relay as built: one encoder for all viewers. "per_viewer" gives
every viewer its own encoder with the same settings (the naive relay). Viewers,
server and anything else running share this machine's {cores} core(s).
"""


# Delivered fps at or above this share of the stream's count as full frame rate.
FULL_FRAME_RATE = 0.97


@dataclass(frozen=True)
class RunResult:
    """One design at one viewer count."""

    viewers: int
    connected: int
    p50_ms: float | None
    p95_ms: float | None
    fps: float
    fps_min: float
    server_cpu_pct: float
    encoder_cpu_pct: float
    packets_lost: int
    latency_samples: int
    viewers_cpu_pct: float
    load_avg_1m: float

    def as_json(self) -> dict[str, Any]:
        return {
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "fps": round(self.fps, 1),
            "server_cpu_pct": round(self.server_cpu_pct, 1),
            "fps_min": round(self.fps_min, 1),
            "encoder_cpu_pct": round(self.encoder_cpu_pct, 1),
            "viewers_connected": self.connected,
            "packets_lost": self.packets_lost,
            "latency_samples": self.latency_samples,
            "viewer_processes_cpu_pct": round(self.viewers_cpu_pct, 1),
            "load_avg_1m": round(self.load_avg_1m, 2),
        }


def _percentile(values: list[int], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, math.floor(fraction * len(ordered)))])


class _Server:
    """A `web.video.serve` process on a loopback socket this process bound."""

    def __init__(self, args: argparse.Namespace, mode: EncodeMode) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        fd = self._socket.fileno()
        command = [
            sys.executable,
            "-m",
            "web.video.serve",
            f"--fd={fd}",
            "--synthetic=drone-1",
            "--loopback-only",
            f"--encode-mode={mode}",
            f"--size={args.size}",
            f"--fps={args.fps}",
            f"--bitrate-bps={args.bitrate_bps}",
            f"--codecs={args.codec}",
            "--max-viewers=1000",
        ]
        self._process = subprocess.Popen(command, pass_fds=(fd,))

    def wait_ready(self, client: httpx.Client, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("video server exited during startup")
            try:
                if client.get(f"{self.base_url}/video/streams").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("video server did not start")

    def stats(self, client: httpx.Client) -> tuple[float, float]:
        """(process CPU seconds, encoder CPU seconds)."""
        body = client.get(f"{self.base_url}/video/stats").json()
        return float(body["server_cpu_s"]), float(body["streams"][0]["encode_cpu_s"])

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._socket.close()


def _shares(viewers: int) -> list[int]:
    """Counting viewers per process: a process per 40, at most 4."""
    if viewers <= 0:
        return []
    processes = min(4, math.ceil(viewers / 40))
    return [viewers // processes + (index < viewers % processes) for index in range(processes)]


def _start_viewers(
    args: argparse.Namespace, base_url: str, viewers: int, decoders: int
) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "web.video.whep_client",
        f"{base_url}/whep/drone-1",
        f"--viewers={viewers}",
        f"--decoders={decoders}",
        "--start-from-stdin",
        f"--window-s={args.window_s}",
        f"--codec={args.codec}",
        "--loopback-only",
    ]
    return subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _wait_joined(processes: list[subprocess.Popen[str]]) -> None:
    # Each viewer process reports on stderr once all its viewers have joined.
    for process in processes:
        assert process.stderr is not None
        line = process.stderr.readline()
        if not line.startswith("connected"):
            raise RuntimeError(f"viewer process did not join: {line.strip()!r}")


def run_once(args: argparse.Namespace, mode: EncodeMode, viewers: int) -> RunResult:
    """Measure one design with `viewers` viewers; raises RuntimeError on failure."""
    server = _Server(args, mode)
    processes: list[subprocess.Popen[str]] = []
    try:
        with httpx.Client(timeout=10) as client:
            server.wait_ready(client)
            decoders = min(args.decoders, viewers)
            for share in _shares(viewers - decoders):
                processes.append(_start_viewers(args, server.base_url, share, decoders=0))
            _wait_joined(processes)
            # The decoding viewers join last: the relay sends to viewers in the order
            # they joined, so theirs is the longest wait of any viewer.
            if decoders:
                processes.append(_start_viewers(args, server.base_url, decoders, decoders))
                _wait_joined(processes[-1:])
            window_start = time.time() + 1.0
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(f"{window_start}\n")
                process.stdin.flush()
            time.sleep(max(0.0, window_start - time.time()))
            cpu0, encode0 = server.stats(client)
            started = time.monotonic()
            time.sleep(args.window_s)
            cpu1, encode1 = server.stats(client)
            elapsed_s = time.monotonic() - started
            load_avg_1m = _load_avg_1m()
        reports: list[dict[str, Any]] = []
        viewers_cpu_pct = 0.0
        for process in processes:
            stdout, _ = process.communicate(timeout=60 + viewers)
            if process.returncode != 0:
                raise RuntimeError(f"viewer process failed with {process.returncode}")
            output = json.loads(stdout)
            reports += output["viewers"]
            viewers_cpu_pct += output["process_cpu_pct"]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        server.stop()
    ok = [r for r in reports if r["error"] is None]
    fps = [r["frames"] / args.window_s for r in ok] or [0.0]
    latencies = [ms for r in ok for ms in r["latencies_ms"]]
    return RunResult(
        viewers=viewers,
        connected=len(ok),
        p50_ms=_percentile(latencies, 0.50),
        p95_ms=_percentile(latencies, 0.95),
        fps=statistics.mean(fps),
        fps_min=min(fps),
        server_cpu_pct=(cpu1 - cpu0) / elapsed_s * 100,
        encoder_cpu_pct=(encode1 - encode0) / elapsed_s * 100,
        packets_lost=sum(r["packets_lost"] for r in ok),
        latency_samples=len(latencies),
        viewers_cpu_pct=viewers_cpu_pct,
        load_avg_1m=load_avg_1m,
    )


def _load_avg_1m() -> float:
    """The machine's one-minute load average (runnable tasks), or -1 where unknown."""
    try:
        return os.getloadavg()[0]
    except OSError:
        return -1.0


def _parse_counts(text: str) -> list[int]:
    counts = sorted({int(part) for part in text.split(",") if part.strip()})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("viewer counts must be positive integers")
    return counts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dfr bench video", description=__doc__.split("\n\n")[0])
    parser.add_argument("--viewers", type=_parse_counts, default=[1, 10, 50, 100])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--window-s", type=float, default=8.0, help="measurement window")
    parser.add_argument("--decoders", type=int, default=1, help="decoding viewers per run")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate-bps", type=int, default=1_500_000)
    parser.add_argument("--codec", choices=("h264", "vp8"), default="h264")
    parser.add_argument(
        "--per-viewer-max",
        type=int,
        default=10,
        help="largest viewer count tried with one encoder per viewer",
    )
    parser.add_argument(
        "--skip-per-viewer", action="store_true", help="measure the encode-once relay only"
    )
    return parser


def _summary(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    target = FULL_FRAME_RATE * args.fps
    # At full frame rate only: when the machine cannot keep up, fewer frames are
    # drawn, encoded and sent, and the CPU figures shrink with them.
    once = {int(k): v for k, v in results["once"].items() if v.get("fps") and v["fps"] >= target}
    if len(once) >= 2:
        counts = sorted(once)
        # Normalised to exactly the nominal frame rate, then a straight line through them.
        server = [once[c]["server_cpu_pct"] / once[c]["fps"] * args.fps for c in counts]
        encoder = [once[c]["encoder_cpu_pct"] / once[c]["fps"] * args.fps for c in counts]
        per_viewer_pct, fixed_pct = statistics.linear_regression(counts, server)
        encoder_pct = statistics.mean(encoder)
        lines.append(
            f"encode once, {counts[0]} to {counts[-1]} viewers: each viewer adds "
            f"{per_viewer_pct:.2f} % of a core at {args.fps} fps; the shared encoder costs "
            f"{encoder_pct:.1f} % (a viewer = {per_viewer_pct / encoder_pct:.1%} of the encoder), "
            f"everything else {fixed_pct - encoder_pct:.1f} %"
        )
    for mode, runs in results.items():
        for viewers, run in runs.items():
            if run.get("skipped"):
                lines.append(f"{mode} {viewers} viewers: {run['skipped']}")
            elif run["fps"] < target:
                lines.append(
                    f"{mode} {viewers} viewers: below full frame rate ({run['fps']} fps delivered)"
                )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; prints a table (or JSON with --json). Returns 0, or 1 on failure."""
    args = build_parser().parse_args(argv)
    modes: list[EncodeMode] = ["once"] if args.skip_per_viewer else ["once", "per_viewer"]
    results: dict[str, dict[str, Any]] = {"once": {}, "per_viewer": {}}
    say = (lambda *_: None) if args.json else print
    method = METHOD.format(
        size=args.size,
        fps=args.fps,
        codec=args.codec,
        bitrate_kbps=args.bitrate_bps // 1000,
        window_s=args.window_s,
        decoders=args.decoders,
        cores=os.cpu_count(),
    )
    say(method)
    say(
        f"{'design':<11}{'viewers':>8}{'p50 ms':>8}{'p95 ms':>8}{'fps':>7}{'min fps':>8}"
        f"{'server CPU %':>13}{'encoder %':>10}{'viewers CPU %':>14}{'lost':>6}{'load':>6}"
    )
    for mode in modes:
        saturated_at: int | None = None
        for count in args.viewers:
            if mode == "per_viewer" and count > args.per_viewer_max:
                reason = f"not run: above --per-viewer-max {args.per_viewer_max}"
                results[mode][str(count)] = _skipped(reason)
                continue
            if saturated_at is not None:
                reason = f"not run: one encoder per viewer saturated at {saturated_at} viewers"
                results[mode][str(count)] = _skipped(reason)
                continue
            try:
                run = run_once(args, mode, count)
            except (RuntimeError, OSError, httpx.HTTPError, subprocess.SubprocessError) as exc:
                print(f"{mode} with {count} viewers failed: {exc}", file=sys.stderr)
                return 1
            results[mode][str(count)] = run.as_json()
            say(
                f"{mode:<11}{count:>8}{_fmt(run.p50_ms):>8}{_fmt(run.p95_ms):>8}"
                f"{run.fps:>7.1f}{run.fps_min:>8.1f}{run.server_cpu_pct:>13.1f}"
                f"{run.encoder_cpu_pct:>10.1f}{run.viewers_cpu_pct:>14.1f}{run.packets_lost:>6}"
                f"{run.load_avg_1m:>6.1f}"
            )
            # One viewer is the same work in both designs: saturation shows from two on.
            if mode == "per_viewer" and count > 1 and run.fps < 0.9 * args.fps:
                saturated_at = count
    notes = _summary(args, results)
    if args.json:
        print(json.dumps({**results, "method": " ".join(method.split()), "notes": notes}, indent=2))
    else:
        for line in notes:
            print(line)
    return 0


def _skipped(reason: str) -> dict[str, Any]:
    return {"p50_ms": None, "p95_ms": None, "fps": None, "server_cpu_pct": None, "skipped": reason}


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


if __name__ == "__main__":
    raise SystemExit(main())
