"""Retention: delete the recordings and flight records the deployment's `[retention]`
no longer keeps, unless an evidence hold holds their sortie, auditing every deletion.

`plan_retention` says what is due at `now`; `apply_retention` deletes it (or, dry,
nothing) and appends one `retention.delete` entry (actor `retention`) per deleted file,
with its name, its SHA-256 computed just before deletion, whether that matches the
manifest, its size and the rule, and one per sortie whose track points and transfers
went, with the row counts. `RetentionJob` does it daily in the server; `dfr retention
run` on demand. The audit log, the sorties, their events and their holds are never
deleted. File work runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dfr.db_connection import DatabaseError
from dfr.deployment import RetentionSection
from dfr.store import REFUSED, FlightRecords, HoldKind, Store, StoreError
from missions.sortie import FINAL_STATES

log = logging.getLogger(__name__)

ACTOR = "retention"
ACTION = "retention.delete"
_PENDING = ".pending.json"  # beside a recording still being written (web.video.recorder)


@dataclass(frozen=True)
class DueRecording:
    """A recording (its manifest, and the video file unless it is gone already) past
    `recordings_days`."""

    manifest: Path
    recording: Path | None
    sortie_id: int | None
    stream_id: str
    ended_utc: str  # from the manifest, or the file's modification time
    manifest_sha256: str | None  # what the manifest says the recording's hash is

    @property
    def subject(self) -> str:
        if self.sortie_id is not None:
            return f"sortie:{self.sortie_id}"
        return f"stream:{self.stream_id}" if self.stream_id else ""


@dataclass(frozen=True)
class Kept:
    """Something past its time that stays, and why."""

    what: str
    sortie_id: int | None
    why: str


@dataclass(frozen=True)
class RetentionPlan:
    now_utc: str
    policy: RetentionSection
    recordings: list[DueRecording] = field(default_factory=list)
    records: list[FlightRecords] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)


@dataclass(frozen=True)
class DeletedFile:
    name: str
    sortie_id: int | None
    sha256: str
    size_bytes: int
    matches_manifest: bool | None  # None: a manifest itself, or one without a hash


@dataclass
class RetentionResult:
    plan: RetentionPlan
    dry_run: bool
    files: list[DeletedFile] = field(default_factory=list)
    records: list[FlightRecords] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)  # the plan's, and those held since
    failed: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        p = self.plan
        return {
            "now_utc": p.now_utc,
            "dry_run": self.dry_run,
            "policy": p.policy.model_dump(),
            "recordings": [
                {
                    "manifest": r.manifest.name,
                    "recording": r.recording.name if r.recording else None,
                    "sortie_id": r.sortie_id,
                    "ended_utc": r.ended_utc,
                }
                for r in p.recordings
            ],
            "records": [asdict(r) for r in p.records],
            "deleted_files": [asdict(f) for f in self.files],
            "deleted_records": [asdict(r) for r in self.records],
            "kept": [asdict(k) for k in self.kept],
            "failed": self.failed,
        }


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


async def plan_retention(
    store: Store, recordings_dir: Path, policy: RetentionSection, now: datetime
) -> RetentionPlan:
    """What `policy` deletes at `now` (an aware datetime); deletes nothing."""
    held = await store.held_sorties(HoldKind.EVIDENCE)
    plan = RetentionPlan(_utc(now), policy)
    recordings_before = now - timedelta(days=policy.recordings_days)
    for due in await asyncio.to_thread(_due_recordings, recordings_dir, recordings_before):
        if due.sortie_id in held:
            plan.kept.append(Kept(due.manifest.name, due.sortie_id, "evidence hold"))
        else:
            plan.recordings.append(due)
    records_before = _utc(now - timedelta(days=policy.records_days))
    for records in await store.flight_records_ended_before(records_before, FINAL_STATES):
        if records.sortie_id in held:
            plan.kept.append(Kept("flight records", records.sortie_id, "evidence hold"))
        else:
            plan.records.append(records)
    return plan


async def apply_retention(
    store: Store, plan: RetentionPlan, dry_run: bool = False
) -> RetentionResult:
    """Delete what `plan` lists (nothing when `dry_run`), auditing each deletion. A
    sortie held since the plan was made is kept. A file that cannot be hashed or
    deleted is audited as refused and left."""
    result = RetentionResult(plan, dry_run, kept=list(plan.kept))
    if dry_run:
        return result
    for due in plan.recordings:
        if due.sortie_id is not None and due.sortie_id in await store.held_sorties(
            HoldKind.EVIDENCE
        ):
            result.kept.append(Kept(due.manifest.name, due.sortie_id, "evidence hold"))
            continue
        await _delete_recording(store, due, plan.policy, result)
    rule = {"rule": f"records_days={plan.policy.records_days}"}
    for records in plan.records:
        deleted = await store.delete_flight_records(
            records.sortie_id, ACTOR, {**rule, "last_event_at": records.last_event_at}
        )
        if deleted is None:
            result.kept.append(Kept("flight records", records.sortie_id, "evidence hold"))
        else:
            result.records.append(deleted)
    return result


async def run_retention(
    store: Store,
    recordings_dir: Path,
    policy: RetentionSection,
    now: datetime,
    dry_run: bool = False,
) -> RetentionResult:
    """Plan at `now` and apply (or, dry, only report)."""
    plan = await plan_retention(store, recordings_dir, policy, now)
    return await apply_retention(store, plan, dry_run)


class RetentionJob:
    """The server's retention run: `first_run_s` after it starts, then every
    `interval_s`, until cancelled. A run that fails is logged and tried again at the
    next interval."""

    def __init__(
        self,
        store: Store,
        recordings_dir: Path,
        policy: RetentionSection,
        interval_s: float,
        first_run_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._recordings_dir = recordings_dir
        self._policy = policy
        self._interval_s = interval_s
        self._first_run_s = first_run_s
        self._clock = clock
        self.last: RetentionResult | None = None
        self.ran = asyncio.Event()  # set after each run, failed or not

    async def run(self) -> None:
        await asyncio.sleep(self._first_run_s)
        while True:
            try:
                self.last = await run_retention(
                    self._store, self._recordings_dir, self._policy, self._clock()
                )
            except (StoreError, *DatabaseError, OSError):
                log.exception("retention run failed; trying again in %.0f s", self._interval_s)
            else:
                log.info(
                    "retention: deleted %d file(s) and %d sortie(s)' flight records",
                    len(self.last.files),
                    len(self.last.records),
                )
            self.ran.set()
            await asyncio.sleep(self._interval_s)


async def _delete_recording(
    store: Store, due: DueRecording, policy: RetentionSection, result: RetentionResult
) -> None:
    """The video first, then its manifest: a run cut short between them leaves the
    manifest, which the next run finds (without its video) and deletes."""
    rule = f"recordings_days={policy.recordings_days}"
    common = {"rule": rule, "ended_utc": due.ended_utc}
    files: list[tuple[Path, dict[str, Any]]] = []
    if due.recording is not None:
        files.append((due.recording, {"manifest": due.manifest.name}))
    files.append((due.manifest, {"manifest_of": due.recording.name if due.recording else None}))
    for path, about in files:
        try:
            digest, size = await asyncio.to_thread(_hash_and_delete, path)
        except OSError as exc:
            reason = f"could not delete {path.name}: {exc.strerror or exc}"
            details = {"file": path.name, **common, **about}
            await store.audit(ACTOR, ACTION, due.subject, details, REFUSED, reason)
            result.failed.append(reason)
            return  # the manifest stays while its video does
        matches = (
            digest == due.manifest_sha256 if path == due.recording and due.manifest_sha256 else None
        )
        details = {"file": path.name, "sha256": digest, "size_bytes": size, **common, **about}
        if path == due.recording:
            details["manifest_sha256"] = due.manifest_sha256
            details["sha256_matches_manifest"] = matches
        await store.audit(ACTOR, ACTION, due.subject, details)
        result.files.append(DeletedFile(path.name, due.sortie_id, digest, size, matches))


def _hash_and_delete(path: Path) -> tuple[str, int]:
    """SHA-256 (hex) and size of `path`, then delete it (blocking)."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    path.unlink()
    return digest.hexdigest(), size


def _due_recordings(directory: Path, ended_before: datetime) -> list[DueRecording]:
    """Recordings in `directory` that ended before `ended_before` (blocking). One still
    being written (a `.pending.json` beside it) is never due; a manifest that cannot be
    read is left alone."""
    if not directory.is_dir():
        return []
    due = []
    for manifest in sorted(directory.glob("*.json")):
        if manifest.name.endswith(_PENDING):
            continue
        try:
            described = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            log.warning("retention: %s is not a readable manifest; left alone", manifest.name)
            continue
        if not isinstance(described, dict):
            continue
        # Only a name: a manifest never points outside the recordings folder.
        name = Path(str(described.get("file_name") or manifest.with_suffix(".mkv").name)).name
        recording = directory / name
        if (directory / (recording.stem + _PENDING)).exists():
            continue
        ended = _ended(described.get("ended_utc"), recording, manifest)
        if ended is None or ended >= ended_before:
            continue
        sortie_id = described.get("sortie_id")
        sha = described.get("sha256")
        due.append(
            DueRecording(
                manifest=manifest,
                recording=recording if recording.is_file() else None,
                sortie_id=sortie_id if isinstance(sortie_id, int) else None,
                stream_id=str(described.get("stream_id") or ""),
                ended_utc=_utc(ended),
                manifest_sha256=sha if isinstance(sha, str) else None,
            )
        )
    return due


def _ended(stamp: object, recording: Path, manifest: Path) -> datetime | None:
    """When the recording ended: the manifest's `ended_utc`, else the video's (or the
    manifest's) modification time."""
    if isinstance(stamp, str):
        try:
            moment = datetime.fromisoformat(stamp)
        except ValueError:
            pass
        else:
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    for path in (recording, manifest):
        try:
            return datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:
            continue
    return None
