"""`dfr bench evidence` runs end to end on a short recording and checks its package."""

from __future__ import annotations

from dfr.bench_evidence import run


def test_the_evidence_benchmark_builds_exports_and_verifies_a_package() -> None:
    figures = run(minutes=0.1)
    assert figures["intact"]
    assert figures["track_points"] == 6
    assert figures["package_mb"] >= figures["recording_mb"] > 0
