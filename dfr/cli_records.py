"""The `dfr` commands on the records a server keeps, run beside it or after it:
`evidence export|verify`, `plan fence`, `audit verify`, `retention run` and
`db migrate|backup`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dfr.cli_common import database_arg, deployment_arg
from dfr.deployment import load_deployment
from dfr.settings import Settings


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `evidence`, `plan`, `audit`, `retention` and `db`."""
    e = sub.add_parser("evidence", help="a sortie's signed evidence package: export, verify")
    esub = e.add_subparsers(dest="evidence", required=True)
    ee = esub.add_parser("export", help="write a sortie's package from a state directory")
    ee.add_argument("--sortie", type=int, required=True)
    ee.add_argument("--out", type=Path, required=True)
    ee.add_argument("--state-dir", type=Path, default=None, help="default: DFR_STATE_DIR or var")
    database_arg(ee)
    deployment_arg(ee)
    ee.set_defaults(func=_evidence_export)
    ev = esub.add_parser("verify", help="check a package: signature, every file, nothing added")
    ev.add_argument("package", type=Path)
    ev.add_argument("--public-key", type=Path, default=None, help="the published key (PEM)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(func=_evidence_verify)

    pl = sub.add_parser("plan", help="QGroundControl .plan files")
    plsub = pl.add_subparsers(dest="plan", required=True)
    pf = plsub.add_parser("fence", help="a plan's fence as dfr airspace features (GeoJSON)")
    pf.add_argument("plan_file", type=Path)
    pf.add_argument("--out", type=Path, default=None, help="default: print")
    pf.set_defaults(func=_plan_fence)

    a = sub.add_parser("audit", help="the audit log")
    asub = a.add_subparsers(dest="audit", required=True)
    av = asub.add_parser(
        "verify",
        help="check the audit log's hash chain and signed checkpoints, reading only;"
        " exit status 0 when intact, 1 when not",
    )
    where = av.add_mutually_exclusive_group()
    where.add_argument(
        "--database", help="a dfr database file (or a copy of one), or a postgresql:// URL"
    )
    where.add_argument(
        "--state-dir",
        type=Path,
        help="a state dir: its database, checkpoints file and public key (default: DFR_STATE_DIR)",
    )
    av.add_argument("--checkpoints", type=Path, help="a checkpoints file (JSON lines)")
    av.add_argument(
        "--public-key",
        type=Path,
        action="append",
        help="the signing key's public half (PEM); again for each key the server ever had",
    )
    av.add_argument("--json", action="store_true", help="print JSON")
    av.set_defaults(func=_audit_verify)

    rt = sub.add_parser(
        "retention", help="delete what the deployment's [retention] no longer keeps"
    )
    rtsub = rt.add_subparsers(dest="retention", required=True)
    rr = rtsub.add_parser(
        "run", help="delete old recordings and flight records (held ones stay), audited"
    )
    rr.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    rr.add_argument("--state-dir", type=Path, default=None, help="default: DFR_STATE_DIR or var")
    database_arg(rr)
    deployment_arg(rr)
    rr.add_argument("--json", action="store_true")
    rr.set_defaults(func=_retention_run)

    d = sub.add_parser("db", help="the store's database: migrate, back up (before an upgrade)")
    dsub = d.add_subparsers(dest="db", required=True)
    dm = dsub.add_parser(
        "migrate", help="bring its schema up to this release's; prints the versions (idempotent)"
    )
    db_backup = dsub.add_parser(
        "backup", help="a consistent copy, while the server runs (PostgreSQL: pg_dump)"
    )
    db_backup.add_argument("--out", type=Path, required=True, help="the copy (a new file)")
    for sp in (dm, db_backup):
        database_arg(sp)
        sp.add_argument("--state-dir", type=Path, default=None, help="default: DFR_STATE_DIR")
    dm.set_defaults(func=_db_migrate)
    db_backup.set_defaults(func=_db_backup)


def _evidence_export(args: argparse.Namespace) -> int:
    import asyncio
    import getpass
    import shutil

    from dfr.evidence import export_package
    from dfr.store import NotFound, Store

    settings = _settings(args)
    deployment = load_deployment(args.deployment or settings.deployment)

    async def run() -> Path:
        async with Store.open(settings.database_target) as store:
            actor = f"cli:{getpass.getuser()}"
            subject = f"sortie:{args.sortie}"
            async with store.attempt(actor, "evidence.export", subject, {"out": args.out.name}):
                return await export_package(
                    store,
                    args.sortie,
                    settings.recordings_dir,
                    deployment,
                    settings.audit_signing_key_path,
                )

    if _no_database(settings):
        return 2
    try:
        made = asyncio.run(run())
    except NotFound as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    shutil.move(made, args.out)
    print(f"{args.out}: evidence package of sortie {args.sortie}")
    return 0


def _evidence_verify(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from dfr.evidence import EvidenceError, verify_package

    try:
        key = args.public_key.read_bytes() if args.public_key else None
        verdict = verify_package(args.package, key)
    except (OSError, EvidenceError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"intact": verdict.intact, **asdict(verdict)}))
    else:
        for problem in verdict.problems:
            print(f"FAIL {problem}")
        where = (
            "the key given"
            if verdict.key_source == "given"
            else ("the key inside the package: compare its fingerprint with the published one")
        )
        print(
            f"{'INTACT' if verdict.intact else 'NOT INTACT'}: {verdict.files} files;"
            f" signed by key {verdict.key_fingerprint[:16]}… ({where})"
        )
    return 0 if verdict.intact else 1


def _plan_fence(args: argparse.Namespace) -> int:
    from missions.qgc_plan import PlanError, fence_features

    try:
        features = fence_features(json.loads(args.plan_file.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc if isinstance(exc, PlanError | OSError) else f"malformed plan: {exc!r}"
        print(f"dfr: error: {args.plan_file}: {reason}", file=sys.stderr)
        return 2
    text = json.dumps({"type": "FeatureCollection", "features": features}, indent=2)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


def _settings(args: argparse.Namespace) -> Settings:
    """The settings, with the command's --state-dir and --database."""
    overrides = {"state_dir": args.state_dir, "database": getattr(args, "database", None)}
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def _no_database(settings: Settings) -> bool:
    """Say so, and True, when the SQLite file is missing (a URL is tried as it is)."""
    if settings.database_is_postgres or settings.database_path.exists():
        return False
    print(f"dfr: error: no database at {settings.database_path}", file=sys.stderr)
    return True


def _db_migrate(args: argparse.Namespace) -> int:
    from dfr.db_admin import AdminError, migrate_database
    from dfr.db_connection import DatabaseError, describe
    from dfr.store_schema import LATEST

    settings = _settings(args)
    target = settings.database_target
    try:
        before, now = migrate_database(target)
    except (AdminError, *DatabaseError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    what = "up to date" if before == now else "migrated"
    print(f"{describe(target)}: schema version {before} -> {now} ({what}; this dfr: {LATEST})")
    return 0


def _db_backup(args: argparse.Namespace) -> int:
    from dfr.db_admin import AdminError, backup_database, database_version
    from dfr.db_connection import DatabaseError, describe

    settings = _settings(args)
    target = settings.database_target
    try:
        version = database_version(target)
        backup_database(target, args.out)
    except (AdminError, *DatabaseError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    size = args.out.stat().st_size
    print(f"{describe(target)} (schema version {version}) backed up to {args.out}: {size} bytes")
    return 0


def _audit_verify(args: argparse.Namespace) -> int:
    from dfr.audit_verify import VerifyError, read_public_key, verify

    database, checkpoints, key_paths = args.database, args.checkpoints, args.public_key or []
    key_beside_database = False
    if database is None:
        settings = Settings(state_dir=args.state_dir) if args.state_dir else Settings()
        database = settings.database_target
        if checkpoints is None and settings.audit_checkpoints_path.exists():
            checkpoints = settings.audit_checkpoints_path
        if not key_paths and settings.audit_public_key_path.exists():
            key_paths, key_beside_database = [settings.audit_public_key_path], True
    try:
        report = verify(database, checkpoints, [read_public_key(p) for p in key_paths])
    except VerifyError as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    if key_beside_database:
        report.notes.append(
            f"the public key came from {key_paths[0]}, next to the database it vouches for:"
            " for evidence, give --public-key a copy kept elsewhere"
        )
    print(json.dumps(report.as_json()) if args.json else report.text())
    return 0 if report.intact else 1


def _retention_run(args: argparse.Namespace) -> int:
    import asyncio
    from datetime import UTC, datetime

    from dfr.retention import RetentionResult, run_retention
    from dfr.store import Store

    settings = _settings(args)
    deployment = load_deployment(args.deployment or settings.deployment)
    if _no_database(settings):
        return 2

    async def run() -> RetentionResult:
        async with Store.open(settings.database_target) as store:
            return await run_retention(
                store,
                settings.recordings_dir,
                deployment.retention,
                datetime.now(UTC),
                dry_run=args.dry_run,
            )

    result = asyncio.run(run())
    if args.json:
        print(json.dumps(result.as_json()))
        return 1 if result.failed else 0
    policy = deployment.retention
    print(
        f"retention at {result.plan.now_utc}: recordings older than {policy.recordings_days}"
        f" days, flight records older than {policy.records_days} days"
        f"{' (dry run: nothing is deleted)' if args.dry_run else ''}"
    )
    if args.dry_run:
        for due in result.plan.recordings:
            names = [p.name for p in (due.recording, due.manifest) if p is not None]
            print(f"  would delete {', '.join(names)} ({due.subject}, ended {due.ended_utc})")
        for r in result.plan.records:
            print(
                f"  would delete sortie {r.sortie_id}'s {r.track_points} track point(s) and"
                f" {r.transfers} transfer(s) (last event {r.last_event_at})"
            )
    for f in result.files:
        matched = {True: "matches", False: "DOES NOT match", None: "-"}[f.matches_manifest]
        print(
            f"  deleted {f.name} (sortie {f.sortie_id}) sha256 {f.sha256}"
            f" {f.size_bytes} bytes; manifest hash: {matched}"
        )
    for r in result.records:
        print(
            f"  deleted sortie {r.sortie_id}'s {r.track_points} track point(s) and"
            f" {r.transfers} transfer(s)"
        )
    for k in result.kept:
        print(f"  kept {k.what} (sortie {k.sortie_id}): {k.why}")
    for failure in result.failed:
        print(f"  FAILED {failure}")
    return 1 if result.failed else 0
