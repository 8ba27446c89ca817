"""Retention on a real SQLite file and real recording files, with a clock the test sets:
what is past its time goes and is audited with its hash, what is held or young stays,
the sortie and the audit chain stay whole."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from dfr.audit_verify import verify
from dfr.deployment import DeploymentError, RetentionSection, load_deployment
from dfr.retention import RetentionJob, plan_retention, run_retention
from dfr.store import HoldKind, NewCall, Store, TrackPoint

DFR = shutil.which("dfr", path=str(Path(sys.executable).parent)) or "dfr"
POLICY = RetentionSection(recordings_days=30, records_days=365)


def record(directory: Path, name: str, sortie_id: int | None, ended: datetime) -> Path:
    """A recording and its manifest as the recorder writes them."""
    directory.mkdir(parents=True, exist_ok=True)
    video = directory / f"{name}.mkv"
    video.write_bytes(f"frames of {name}".encode() * 100)
    manifest = {
        "stream_id": "dfr-1",
        "file_name": video.name,
        "sha256": hashlib.sha256(video.read_bytes()).hexdigest(),
        "size_bytes": video.stat().st_size,
        "started_utc": (ended - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "ended_utc": ended.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "sortie_id": sortie_id,
        "interrupted": False,
    }
    video.with_suffix(".json").write_text(json.dumps(manifest), encoding="utf-8")
    return video


async def ended_sortie(store: Store, drone: str) -> int:
    """A sortie that flew and landed, with a track and its mission as sent."""
    call = await store.add_call(NewCall(38.26, -104.6, 1, "cad", "x"), "d")
    await store.register_drones([(drone, "hq")])
    sortie = await store.reserve(drone, "hq", call.id, "d")
    assert sortie is not None
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    await store.add_track_points(
        TrackPoint(sortie.id, now, i, 38.26, -104.6, 1500, 60, 0, 10, "MISSION", 90, None, None)
        for i in range(5)
    )
    await store.record_transfers(sortie.id, {"mission": {"uploaded": [], "read_back": []}})
    await store.release(sortie.id, "landed", "d")
    return sortie.id


async def deletions(store: Store) -> list:
    return [e for e in await store.audit_log(limit=10_000) if e.action == "retention.delete"]


async def test_old_recordings_go_audited_with_their_hash_held_and_young_ones_stay(
    store_url,
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    now = datetime.now(UTC) + timedelta(days=100)  # the clock the runs see
    async with Store.open(store_url) as store:
        old_id, held_id, young_id = [await ended_sortie(store, f"dfr-{i}") for i in range(3)]
        old = record(recordings, "dfr-1-old", old_id, now - timedelta(days=31))
        digest = hashlib.sha256(old.read_bytes()).hexdigest()
        held = record(recordings, "dfr-1-held", held_id, now - timedelta(days=40))
        young = record(recordings, "dfr-1-young", young_id, now - timedelta(days=29))
        await store.place_hold(HoldKind.EVIDENCE, held_id, "rtcc", "case 12")

        result = await run_retention(store, recordings, POLICY, now)

        assert not old.exists()
        assert not old.with_suffix(".json").exists()
        assert held.exists()
        assert held.with_suffix(".json").exists()
        assert young.exists()
        assert young.with_suffix(".json").exists()
        assert [(k.sortie_id, k.why) for k in result.kept] == [(held_id, "evidence hold")]
        entries = await deletions(store)
        assert [(e.actor, e.subject, e.details["file"]) for e in entries] == [
            ("retention", f"sortie:{old_id}", "dfr-1-old.mkv"),
            ("retention", f"sortie:{old_id}", "dfr-1-old.json"),
        ]
        video = entries[0].details
        assert video["sha256"] == digest
        assert video["sha256_matches_manifest"] is True
        assert video["size_bytes"] == len(b"frames of dfr-1-old") * 100
        assert video["rule"] == "recordings_days=30"

        # Lifting the hold lets the next run take it.
        await store.lift_hold(HoldKind.EVIDENCE, held_id, "rtcc", "case closed")
        await run_retention(store, recordings, POLICY, now)
        assert not held.exists()
        assert young.exists()
        assert [e.details["file"] for e in await deletions(store)][2:] == [
            "dfr-1-held.mkv",
            "dfr-1-held.json",
        ]


async def test_a_changed_recording_is_deleted_and_the_audit_says_it_did_not_match(
    store_url,
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    now = datetime.now(UTC) + timedelta(days=100)
    async with Store.open(store_url) as store:
        video = record(recordings, "dfr-1-changed", None, now - timedelta(days=60))
        video.write_bytes(b"not what was recorded")
        result = await run_retention(store, recordings, POLICY, now)
        [entry, _] = await deletions(store)
    assert result.files[0].matches_manifest is False
    assert entry.subject == "stream:dfr-1"
    assert entry.details["sha256"] == hashlib.sha256(b"not what was recorded").hexdigest()
    assert entry.details["sha256_matches_manifest"] is False


async def test_a_recording_being_written_and_a_manifest_without_end_use_the_file(
    store_url,
    tmp_path: Path,
) -> None:
    recordings = tmp_path / "recordings"
    now = datetime.now(UTC) + timedelta(days=1)
    async with Store.open(store_url) as store:
        pending = record(recordings, "dfr-1-pending", None, now - timedelta(days=60))
        (recordings / "dfr-1-pending.pending.json").write_text("{}", encoding="utf-8")
        # No ended_utc: the video's modification time (written just now) decides.
        undated = record(recordings, "dfr-1-undated", None, now - timedelta(days=60))
        manifest = json.loads(undated.with_suffix(".json").read_text())
        del manifest["ended_utc"]
        undated.with_suffix(".json").write_text(json.dumps(manifest))
        plan = await plan_retention(store, recordings, POLICY, now)
        assert plan.recordings == []
        plan = await plan_retention(store, recordings, POLICY, now + timedelta(days=31))
        assert [d.manifest.name for d in plan.recordings] == ["dfr-1-undated.json"]
        assert pending.exists()


async def test_a_dry_run_deletes_nothing_and_audits_nothing(store_url, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    now = datetime.now(UTC) + timedelta(days=400)
    async with Store.open(store_url) as store:
        sortie_id = await ended_sortie(store, "dfr-1")
        video = record(recordings, "dfr-1-old", sortie_id, now - timedelta(days=31))
        entries_before = len(await store.audit_log(limit=10_000))
        result = await run_retention(store, recordings, POLICY, now, dry_run=True)
        assert [d.recording for d in result.plan.recordings] == [video]
        assert [r.sortie_id for r in result.plan.records] == [sortie_id]
        assert result.files == []
        assert result.records == []
        assert video.exists()
        assert video.with_suffix(".json").exists()
        assert len(await store.track(sortie_id)) == 5
        assert len(await store.audit_log(limit=10_000)) == entries_before


async def test_old_tracks_and_transfers_go_the_sortie_and_its_audit_stay(
    store_url, tmp_path: Path
) -> None:
    path = store_url
    async with Store.open(path) as store:
        old_id, held_id = await ended_sortie(store, "dfr-1"), await ended_sortie(store, "dfr-2")
        await store.place_hold(HoldKind.EVIDENCE, held_id, "rtcc", "case 7")
        about_before = await store.audit_about(None, old_id)
        sortie_before = await store.get_sortie(old_id)

        young = await run_retention(store, tmp_path / "none", POLICY, datetime.now(UTC))
        assert young.records == []
        assert len(await store.track(old_id)) == 5

        result = await run_retention(
            store, tmp_path / "none", POLICY, datetime.now(UTC) + timedelta(days=366)
        )
        assert [(r.sortie_id, r.track_points, r.transfers) for r in result.records] == [
            (old_id, 5, 2)
        ]
        assert await store.track(old_id) == []
        assert await store.transfers(old_id) == {}
        assert await store.get_sortie(old_id) == sortie_before  # with its timeline
        assert len(await store.track(held_id)) == 5
        assert await store.transfers(held_id) != {}
        about_after = await store.audit_about(None, old_id)
        assert about_after[: len(about_before)] == about_before
        [entry] = await deletions(store)
        assert entry.subject == f"sortie:{old_id}"
        assert entry.details["track_points"] == 5
        assert entry.details["transfers"] == 2
        assert entry.details["rule"] == "records_days=365"
    report = verify(path)
    assert report.intact, report.text()


async def test_the_job_runs_soon_after_start_with_its_clock(store_url, tmp_path: Path) -> None:
    recordings = tmp_path / "recordings"
    now = datetime.now(UTC) + timedelta(days=100)
    async with Store.open(store_url) as store:
        video = record(recordings, "dfr-1-old", None, now - timedelta(days=31))
        job = RetentionJob(store, recordings, POLICY, 3600, 0, clock=lambda: now)
        async with asyncio.TaskGroup() as group:
            task = group.create_task(job.run())
            async with asyncio.timeout(30):
                await job.ran.wait()
            task.cancel()
    assert not video.exists()


def test_the_retention_section_is_validated_with_its_field_named(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        RetentionSection(recordings_days=0)
    source = load_deployment().source
    toml = source.read_text().replace("recordings_days = 30", "recordings_days = -1")
    for name in ("pueblo-airspace.geojson",):
        shutil.copy(source.parent / name, tmp_path / name)
    (tmp_path / "dep.toml").write_text(toml)
    with pytest.raises(DeploymentError, match=r"field 'retention\.recordings_days'"):
        load_deployment(tmp_path / "dep.toml")
    assert load_deployment().retention == RetentionSection(recordings_days=30, records_days=365)


def test_the_cli_shows_then_deletes_on_a_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "var"
    state.mkdir()
    old_ended = datetime.now(UTC) - timedelta(days=45)

    async def a_sortie() -> int:
        async with Store.open(state / "dfr.sqlite") as store:
            return await ended_sortie(store, "dfr-1")

    sortie_id = asyncio.run(a_sortie())
    video = record(state / "recordings", "dfr-1-old", sortie_id, old_ended)
    young = record(state / "recordings", "dfr-1-young", sortie_id, datetime.now(UTC))

    dry = subprocess.run(
        [DFR, "retention", "run", "--dry-run", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dry.returncode == 0, dry.stderr
    assert "would delete" in dry.stdout
    assert "dfr-1-old.mkv" in dry.stdout
    assert video.exists()

    real = subprocess.run(
        [DFR, "retention", "run", "--state-dir", str(state), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert real.returncode == 0, real.stderr
    out = json.loads(real.stdout)
    assert [f["name"] for f in out["deleted_files"]] == ["dfr-1-old.mkv", "dfr-1-old.json"]
    assert not video.exists()
    assert young.exists()
    assert verify(state / "dfr.sqlite").intact
