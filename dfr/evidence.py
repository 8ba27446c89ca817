"""Evidence packages: one sortie's record in a zip that a court can check without
trusting dfr or the machine that made it.

    manifest.json         every other file with its SHA-256 and size; the software
                          version, the deployment files' SHA-256, the latest signed
                          audit checkpoint
    manifest.sig          Ed25519 signature over manifest.json's bytes (detached)
    public-key.pem        the key that signed it: compare it with the published one
    call.json             the call as stored
    sortie.json           the sortie and its timeline
    track.csv             the flight, once a second (see `TRACK_COLUMNS`)
    track.geojson         the same as a LineString with a point per sample
    transfers/*.json      mission and fence, as uploaded and as read back
    audit.jsonl           the audit entries about the call and the sortie
    video-views.json      who watched the live video, from when to when
    recordings/*          the sortie's recordings and their manifests (a recording a
                          crash cut short says "interrupted")

`gather` reads what the store and the recordings folder hold; `write_package` and
`verify_package` are blocking (they hash video): run them in a worker thread.
`verify_package` needs nothing but the zip (and, better, the published key): it
names every file that was changed, removed or added, and a signature that does
not match.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from dfr.audit_signing import PublicKey, SigningKey, SigningKeyError
from dfr.deployment import Deployment
from dfr.store import Store, TrackPoint
from missions.sortie import FINAL_STATES

MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
PUBLIC_KEY = "public-key.pem"
UNLISTED = frozenset({MANIFEST, SIGNATURE, PUBLIC_KEY})
TRACK_COLUMNS = (
    "utc_time",
    "vehicle_time_s",
    "latitude_deg",
    "longitude_deg",
    "altitude_amsl_m",
    "altitude_above_station_m",
    "heading_deg",
    "ground_speed_m_s",
    "flight_mode",
    "battery_pct",
    "camera_target_latitude_deg",
    "camera_target_longitude_deg",
)


class EvidenceError(Exception):
    """A package that cannot be made (no such sortie) or read at all."""


@dataclass
class EvidenceContent:
    """Everything a sortie's package holds, gathered before anything is written."""

    sortie_id: int
    documents: dict[str, bytes] = field(default_factory=dict)  # name in the zip → bytes
    files: dict[str, Path] = field(default_factory=dict)  # name in the zip → file on disk
    about: dict[str, Any] = field(default_factory=dict)  # what the manifest says of it


async def gather(
    store: Store, sortie_id: int, recordings_dir: Path, deployment_files: list[Path]
) -> EvidenceContent:
    """Collect the sortie's record. Raises the store's NotFound for an unknown sortie."""
    sortie = await store.get_sortie(sortie_id)
    call = None if sortie.call_id is None else await store.get_call(sortie.call_id)
    track = await store.track(sortie_id)
    content = EvidenceContent(sortie_id)
    docs = content.documents
    docs["sortie.json"] = _json(asdict(sortie))
    docs["call.json"] = _json(None if call is None else asdict(call))
    docs["track.csv"] = track_csv(track)
    docs["track.geojson"] = _json(track_geojson(sortie_id, track))
    for kind, ways in (await store.transfers(sortie_id)).items():
        for way, items in ways.items():
            docs[f"transfers/{kind}-{way}.json"] = _json(items)
    entries = await store.audit_about(sortie.call_id, sortie_id)
    docs["audit.jsonl"] = b"".join(
        json.dumps(asdict(e), sort_keys=True).encode() + b"\n" for e in entries
    )
    views = await store.video_views_of_sortie(sortie_id, [str(s) for s in FINAL_STATES])
    docs["video-views.json"] = _json([asdict(v) for v in views])
    content.files = await asyncio.to_thread(_recordings_of, recordings_dir, sortie_id)
    deployment_hashes = await asyncio.to_thread(
        lambda: {p.name: _sha256_path(p) for p in deployment_files if p.is_file()}
    )
    content.about = {
        "sortie_id": sortie_id,
        "call_id": sortie.call_id,
        "software": {"name": "dfr", "version": _version()},
        "deployment_files": deployment_hashes,
        "audit_checkpoint": await store.latest_audit_checkpoint(),
        "audit_entries": len(entries),
        "track_points": len(track),
    }
    return content


async def export_package(
    store: Store, sortie_id: int, recordings_dir: Path, deployment: Deployment, key_path: Path
) -> Path:
    """Gather, sign with the server's key (the one that signs the audit checkpoints) and
    write the sortie's package to a temporary file (the caller removes it). Raises the
    store's NotFound."""
    content = await gather(store, sortie_id, recordings_dir, list(deployment.files))
    key = await asyncio.to_thread(SigningKey.load_or_create, key_path)
    out = Path(await asyncio.to_thread(_temporary_zip))
    await asyncio.to_thread(write_package, content, out, key)
    return out


def _temporary_zip() -> str:
    handle, name = tempfile.mkstemp(prefix="dfr-evidence-", suffix=".zip")
    os.close(handle)
    return name


def _recordings_of(directory: Path, sortie_id: int) -> dict[str, Path]:
    """The sortie's recordings and their manifests, by name in the zip."""
    found: dict[str, Path] = {}
    for manifest_path in sorted(directory.glob("*.json")):
        try:
            described = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(described, dict) or described.get("sortie_id") != sortie_id:
            continue
        found[f"recordings/{manifest_path.name}"] = manifest_path
        recording = directory / str(described.get("file_name", ""))
        if recording.is_file():
            found[f"recordings/{recording.name}"] = recording
    return found


def write_package(content: EvidenceContent, out: Path, key: SigningKey) -> dict[str, Any]:
    """Write the zip (blocking); returns its manifest."""
    listed: dict[str, dict[str, Any]] = {}
    for name, data in content.documents.items():
        listed[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}
    for name, path in content.files.items():
        listed[name] = {"sha256": _sha256_path(path), "size_bytes": path.stat().st_size}
    manifest = {
        **content.about,
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": dict(sorted(listed.items())),
    }
    manifest_bytes = _json(manifest)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, manifest_bytes)
        z.writestr(SIGNATURE, key.sign_bytes(manifest_bytes).hex() + "\n")
        z.writestr(PUBLIC_KEY, key.public.pem)
        for name, data in content.documents.items():
            z.writestr(name, data)
        for name, path in content.files.items():
            # Video does not compress: store it as it is.
            z.write(path, name, compress_type=zipfile.ZIP_STORED)
    partial.replace(out)
    return manifest


@dataclass(frozen=True)
class Verdict:
    """What `verify_package` found; `problems` is empty for an intact package."""

    problems: tuple[str, ...]
    key_source: str  # "given" or "package" (then compare its fingerprint with the published)
    key_fingerprint: str
    files: int

    @property
    def intact(self) -> bool:
        return not self.problems


def verify_package(package: Path, public_key_pem: bytes | None = None) -> Verdict:
    """Check a package's signature and every file against its manifest (blocking).
    Raises EvidenceError when the file is not a package at all."""
    try:
        z = zipfile.ZipFile(package)
    except (OSError, zipfile.BadZipFile) as exc:
        raise EvidenceError(f"{package}: not a readable zip: {exc}") from exc
    with z:
        names = set(z.namelist())
        for required in (MANIFEST, SIGNATURE):
            if required not in names:
                raise EvidenceError(f"{package}: no {required}: not a dfr evidence package")
        manifest_bytes = z.read(MANIFEST)
        source = "given" if public_key_pem is not None else "package"
        pem = public_key_pem if public_key_pem is not None else z.read(PUBLIC_KEY)
        try:
            key = PublicKey.from_pem(pem)
        except SigningKeyError as exc:
            raise EvidenceError(str(exc)) from exc
        problems = []
        try:
            signature = bytes.fromhex(z.read(SIGNATURE).decode().strip())
        except ValueError:
            signature = b""
        if not key.verifies(signature, manifest_bytes):
            problems.append("manifest.sig: the signature does not match manifest.json")
        listed = json.loads(manifest_bytes)["files"]
        for name, expected in listed.items():
            if name not in names:
                problems.append(f"{name}: missing")
                continue
            digest = hashlib.sha256()
            with z.open(name) as member:
                while chunk := member.read(1 << 20):
                    digest.update(chunk)
            if digest.hexdigest() != expected["sha256"]:
                problems.append(f"{name}: changed (SHA-256 differs from the manifest)")
        for name in sorted(names - set(listed) - UNLISTED):
            problems.append(f"{name}: added (not in the manifest)")
    return Verdict(tuple(problems), source, key.key_id, len(listed))


def track_csv(track: list[TrackPoint]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TRACK_COLUMNS)
    for p in track:
        writer.writerow(
            (
                p.at_utc,
                p.vehicle_s,
                p.latitude_deg,
                p.longitude_deg,
                p.alt_amsl_m,
                p.alt_above_station_m,
                p.heading_deg,
                p.ground_speed_m_s,
                p.flight_mode,
                p.battery_pct,
                p.target_latitude_deg,
                p.target_longitude_deg,
            )
        )
    return out.getvalue().encode()


def track_geojson(sortie_id: int, track: list[TrackPoint]) -> dict[str, Any]:
    """The track as a LineString (lon, lat, metres AMSL) and a point per sample."""
    line = {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[p.longitude_deg, p.latitude_deg, p.alt_amsl_m] for p in track],
        },
        "properties": {"sortie_id": sortie_id, "kind": "track"},
    }
    points = [
        {
            "type": "Feature",
            "geometry": {
                "type": "Point",
                "coordinates": [p.longitude_deg, p.latitude_deg, p.alt_amsl_m],
            },
            "properties": {
                k: v for k, v in asdict(p).items() if k not in ("latitude_deg", "longitude_deg")
            },
        }
        for p in track
    ]
    return {"type": "FeatureCollection", "features": [line, *points]}


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, default=str).encode() + b"\n"


def _sha256_path(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _version() -> str:
    try:
        return metadata.version("dfr")
    except metadata.PackageNotFoundError:
        return "unknown"
