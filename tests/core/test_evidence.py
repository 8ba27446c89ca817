"""Evidence packages: what a sortie's zip holds, and that any change to it is found,
located and named: a flipped byte, a removed or added file, a forged signature, a
package re-signed with another key. Real SQLite file, real files on disk."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dfr.audit_signing import SigningKey
from dfr.evidence import (
    TRACK_COLUMNS,
    EvidenceError,
    gather,
    verify_package,
    write_package,
)
from dfr.store import NewCall, NewVideoView, Store, TrackPoint

KEY = SigningKey(Ed25519PrivateKey.generate())


def _pem(key: SigningKey) -> bytes:
    return key.public.pem.encode()


def _point(sortie_id: int, second: int) -> TrackPoint:
    return TrackPoint(
        sortie_id, f"2026-11-30T10:00:{second:02d}.000Z", 100.0 + second,
        38.2544 + second * 1e-4, -104.6091, 1490.0, 60.0, 12.0, 18.0, "MISSION", 90.0,
        38.2590, -104.6050,
    )  # fmt: skip


async def _a_flown_sortie(
    tmp_path: Path, database: str | None = None
) -> tuple[Store, int, Path, Path]:
    store = Store(database or tmp_path / "dfr.sqlite")
    await store.start()
    await store.register_drones([("dfr-1", "hq")])
    call = await store.add_call(NewCall(38.2590, -104.6050, 1, "cad", "shots fired"), "disp")
    sortie = await store.reserve("dfr-1", "hq", call.id, "disp", eta_s=61.0, route={})
    assert sortie is not None
    await store.mark_launched(sortie.id, "disp")
    await store.record_sortie_state(sortie.id, "en_route", "takeoff detected", 12.0)
    await store.add_track_points([_point(sortie.id, s) for s in range(10)])
    item = {"seq": 0, "command": 22, "x": 382544000, "y": -1046091000, "z": 10.0}
    await store.record_transfers(sortie.id, {"mission": {"uploaded": [item], "read_back": [item]}})
    view = await store.start_video_view(
        NewVideoView("officer-7", "officer", "link-1", "dfr-1", call.id, sortie.id, "127.0.0.1")
    )
    await store.end_video_view(view.id, "closed")
    await store.release(sortie.id, "docked", "system", "on its dock")
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for sortie_id, name in ((sortie.id, "dfr-1-a"), (sortie.id + 1, "dfr-1-b")):
        (recordings / f"{name}.mkv").write_bytes(b"\x1a\x45\xdf\xa3" + name.encode() * 100)
        (recordings / f"{name}.json").write_text(
            json.dumps({"sortie_id": sortie_id, "file_name": f"{name}.mkv", "interrupted": True})
        )
    deployment = tmp_path / "city.toml"
    deployment.write_text("[deployment]\nname = 'x'\n")
    return store, sortie.id, recordings, deployment


async def _package(tmp_path: Path, database: str | None = None) -> tuple[Path, dict]:
    store, sortie_id, recordings, deployment = await _a_flown_sortie(tmp_path, database)
    try:
        content = await gather(store, sortie_id, recordings, [deployment])
    finally:
        await store.close()
    out = tmp_path / "evidence.zip"
    return out, write_package(content, out, KEY)


async def test_a_package_holds_the_whole_record_and_verifies(
    tmp_path: Path, store_url: str
) -> None:
    package, manifest = await _package(tmp_path, store_url)
    files = set(manifest["files"])
    assert {
        "call.json", "sortie.json", "track.csv", "track.geojson", "audit.jsonl",
        "video-views.json", "transfers/mission-uploaded.json", "transfers/mission-read_back.json",
        "recordings/dfr-1-a.mkv", "recordings/dfr-1-a.json",
    } == files  # fmt: skip
    assert manifest["deployment_files"].keys() == {"city.toml"}
    assert manifest["audit_checkpoint"] is None  # this store signs no checkpoints
    with zipfile.ZipFile(package) as z:
        rows = list(csv.reader(io.StringIO(z.read("track.csv").decode())))
        assert tuple(rows[0]) == TRACK_COLUMNS
        assert len(rows) == 11
        audit = [json.loads(line) for line in z.read("audit.jsonl").splitlines()]
        actions = [e["action"] for e in audit]
        assert {"call.create", "sortie.dispatch", "sortie.launch", "sortie.release"} <= set(actions)
        assert "video.view.start" in actions
        # With their place in the chain, so a reader can check them against the log.
        assert all(len(e["hash"]) == 64 and len(e["prev_hash"]) == 64 for e in audit)
        views = json.loads(z.read("video-views.json"))
        assert [(v["principal"], v["end_reason"]) for v in views] == [("officer-7", "closed")]
    verdict = verify_package(package, _pem(KEY))
    assert verdict.intact, verdict.problems
    assert verdict.key_source == "given"
    assert verify_package(package).intact  # with the key the package carries


def _rewrite(package: Path, change: dict[str, bytes | None]) -> None:
    """Rewrite the zip with members replaced (bytes), removed (None) or added."""
    with zipfile.ZipFile(package) as z:
        members = {name: z.read(name) for name in z.namelist()}
    for name, data in change.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    with zipfile.ZipFile(package, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)


@pytest.mark.parametrize(
    ("change", "found"),
    [
        ("flip", "track.csv: changed"),
        ("remove", "recordings/dfr-1-a.mkv: missing"),
        ("add", "notes.txt: added"),
        ("forge", "manifest.sig: the signature does not match"),
    ],
)
async def test_any_change_is_found_and_named(tmp_path: Path, change: str, found: str) -> None:
    package, _ = await _package(tmp_path)
    with zipfile.ZipFile(package) as z:
        track = bytearray(z.read("track.csv"))
    track[40] ^= 0x01
    edits: dict[str, dict[str, bytes | None]] = {
        "flip": {"track.csv": bytes(track)},
        "remove": {"recordings/dfr-1-a.mkv": None},
        "add": {"notes.txt": b"planted"},
        "forge": {"manifest.sig": b"00" * 64 + b"\n"},
    }
    _rewrite(package, edits[change])
    verdict = verify_package(package, _pem(KEY))
    assert not verdict.intact
    assert any(p.startswith(found) for p in verdict.problems), verdict.problems


async def test_a_package_re_signed_with_another_key_fails_against_the_published_one(
    tmp_path: Path,
) -> None:
    package, _ = await _package(tmp_path)
    with zipfile.ZipFile(package) as z:
        manifest = json.loads(z.read("manifest.json"))
    manifest["files"].pop("video-views.json")  # hide who watched
    forged = json.dumps(manifest).encode()
    other = SigningKey(Ed25519PrivateKey.generate())
    _rewrite(
        package,
        {
            "manifest.json": forged,
            "video-views.json": None,
            "manifest.sig": other.sign_bytes(forged).hex().encode(),
            "public-key.pem": _pem(other),
        },
    )
    assert verify_package(package).intact  # consistent with itself...
    assert (
        verify_package(package).key_fingerprint
        != verify_package(package, _pem(KEY)).key_fingerprint
    )  # ...but not signed by the published key:
    assert not verify_package(package, _pem(KEY)).intact


def test_a_file_that_is_not_a_package_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(EvidenceError):
        verify_package(junk)
