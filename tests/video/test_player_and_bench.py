"""The player page is self-contained; the benchmark runs end to end at a tiny scale."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi import FastAPI

from web.video import bench
from web.video.player_page import player_html


def test_the_player_page_loads_nothing_from_elsewhere() -> None:
    page = player_html("drone-1", "/whep/drone-1")
    assert not re.search(r"(src|href)=\"(?!data:)", page)
    assert "http://" not in page
    assert "https://" not in page
    assert "/whep/drone-1" in page


def test_the_player_page_escapes_what_it_embeds() -> None:
    page = player_html("</script><script>alert(1)</script>", "/whep/x")
    assert "<script>alert(1)" not in page


async def test_the_player_page_is_served(video_server: tuple[str, FastAPI]) -> None:
    base_url, _ = video_server
    async with httpx.AsyncClient(base_url=base_url) as client:
        page = await client.get("/video/player/drone-1")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '"whepUrl": "/whep/drone-1"' in page.text
        assert (await client.get("/")).status_code in (200, 307)


def test_benchmark_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    code = bench.main(["--viewers=2", "--json", "--window-s=1.5", "--size=320x240", "--decoders=1"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    for design in ("once", "per_viewer"):
        run = result[design]["2"]
        assert set(run) >= {"p50_ms", "p95_ms", "fps", "server_cpu_pct"}
        assert run["fps"] > 5
        assert run["viewers_connected"] == 2
        assert run["p50_ms"] is not None
        assert run["server_cpu_pct"] > 0
    assert "timecode" in result["method"]
