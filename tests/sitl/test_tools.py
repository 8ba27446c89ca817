"""`python -m sitl` and `python -m sitl.bench` as a user runs them."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from dfr.loopback import free_udp_port
from sitl.__main__ import build_parser, configs_from_args
from sitl.bench import run_bench
from tests.sitl.raw_gcs import raw_gcs


def test_arguments_become_vehicle_configs() -> None:
    args = build_parser().parse_args(
        ["--home", "38.2544,-104.6091,1430", "--home", "38.28,-104.6,1440", "--speed", "5",
         "--param", "MPC_XY_CRUISE=20", "--fault", "1:gps-loss@60"]
    )  # fmt: skip
    configs = configs_from_args(args)
    assert [c.instance for c in configs] == [0, 1]
    assert [c.resolved_api_port for c in configs] == [14540, 14541]
    assert [c.resolved_local_port for c in configs] == [14580, 14581]
    assert configs[1].home_alt_amsl_m == 1440.0
    assert configs[1].speed_factor == 5.0
    assert configs[0].params["MPC_XY_CRUISE"] == 20.0
    assert args.fault[0].instance == 1
    assert args.fault[0].at_s == 60.0


@pytest.mark.parametrize(
    "bad", [["--home", "91,0,0"], ["--home", "1,2"], ["--home", "1,2,3", "--fault", "x"]]
)
def test_bad_arguments_exit_with_usage(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(bad)
    assert exc.value.code == 2


async def test_command_line_runs_vehicles_until_interrupted() -> None:
    async with raw_gcs() as gcs:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sitl", "--home", "38.2544,-104.6091,1430", "--speed", "10",
            "--api-port-base", str(gcs.port), "--local-port-base", "0", "--quiet",
            "--fault", "0:refuse-arming",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            line = await asyncio.wait_for(process.stdout.readline(), 20.0)
            assert f"udpin://127.0.0.1:{gcs.port}" in line.decode()
            beat = await gcs.wait_for(lambda m: m.get_type() == "HEARTBEAT", timeout_s=10.0)
            assert (beat.get_srcSystem(), beat.autopilot) == (1, 12)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            async with asyncio.timeout(10.0):
                await process.wait()
        assert process.returncode == 0, (await process.stderr.read()).decode()


async def test_bench_reports_speed_and_cpu() -> None:
    result = await run_bench(vehicles=2, speed=20.0, span_s=20.0, fast_hz=10.0)
    assert result.vehicle_span_s >= 20.0
    assert result.achieved_speed_factor > 0
    assert result.cpu_pct > 0
    assert result.datagrams > 0


def test_unused_udp_port_helper() -> None:
    assert 1024 < free_udp_port() < 65536
