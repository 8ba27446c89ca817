"""The `dfr` command, and the composition root: the one place that decides which
vehicles the application flies (the built-in simulator, PX4 SITL or real drones)
and puts the server together (`server_app`)."""

from __future__ import annotations

import argparse
import signal
import ssl
import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from pydantic_settings import SettingsError

from dfr import cli_bench, cli_deployment, cli_records, cli_scenario
from dfr.cli_common import CommandError, Wiring, database_arg, deployment_arg
from dfr.deployment import Deployment, DeploymentError, load_deployment
from dfr.loopback import is_loopback
from dfr.services import VehicleProvider
from dfr.settings import Settings
from missions.geo import CoordinateError

if TYPE_CHECKING:
    from fastapi import FastAPI

    from dfr.bench_autolaunch import AppFactory


def vehicles_for(
    simulate: bool, speed_factor: float, port_base: int, px4: bool = False
) -> VehicleProvider | None:
    """The built-in simulator (one process, instance i on UDP port_base + i), PX4 SITL
    (DFR_PX4_DIR), or None: the deployment's own drone addresses."""
    if px4:
        from sitl.px4_launcher import px4_stations

        return partial(px4_stations, speed_factor=speed_factor)
    if simulate:
        from sitl.sim_process import simulated_stations

        return partial(simulated_stations, speed_factor=speed_factor, api_port_base=port_base)
    return None


def server_app(settings: Settings, deployment: Deployment | None = None) -> FastAPI:
    """The dfr server as `settings` describe it, simulated drones included when asked."""
    from web.server import create_app

    vehicles = vehicles_for(settings.simulate, settings.sim_speed_factor, settings.sim_port_base)
    return create_app(settings, deployment, vehicles)


def main(argv: list[str] | None = None) -> int:
    if argv is None and sys.argv[1:2] != ["serve"]:  # the command, not an in-process caller
        # SIGTERM stops a command as Ctrl-C does, so what it started (servers, simulated
        # drones, PX4, each in a session of its own) is stopped on the way out. `serve`
        # keeps uvicorn's handling: a graceful shutdown, then death by the signal.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    argv = sys.argv[1:] if argv is None else list(argv)
    # These benchmarks own their options; hand them everything after their name.
    if argv[:2] == ["bench", "video"]:
        from web.video.bench import main as bench_video

        return bench_video(argv[2:])
    if argv[:2] == ["bench", "sim"]:
        from sitl.bench import main as bench_sim

        bench_sim(argv[2:])
        return 0
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (DeploymentError, CoordinateError) as exc:
        print(f"dfr: error: {exc}", file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"dfr: error: settings (DFR_ variables): {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(
            f"dfr: error: settings (DFR_ variables and options): {_settings_errors(exc)}",
            file=sys.stderr,
        )
        return 2


def _settings_errors(exc: ValidationError) -> str:
    """Each refused setting and why, without the values (a secret may be among them)."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dfr", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    wiring = Wiring(vehicles_for=vehicles_for, app_with=_app_with, px4_commit=_px4_commit)
    cli_deployment.add_commands(sub)

    v = sub.add_parser(
        "serve", help="run the server (built-in Pueblo + simulated drones by default)"
    )
    deployment_arg(v)
    v.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    v.add_argument("--port", type=int, default=None, help="listen port (default 8000)")
    v.add_argument("--state-dir", type=Path, default=None, help="database, users, recordings")
    database_arg(v)
    v.add_argument("--speed", type=float, default=None, help="simulated drones' speed factor")
    v.add_argument("--no-sim", action="store_true", help="connect to real drones, start none")
    v.add_argument("--tls-cert", type=Path, default=None, help="HTTPS: certificate (PEM)")
    v.add_argument("--tls-key", type=Path, default=None, help="HTTPS: its private key (PEM)")
    v.set_defaults(func=_serve)

    cli_scenario.add_command(sub, wiring)
    cli_records.add_commands(sub)
    cli_bench.add_commands(sub, wiring)
    return p


def _app_with(vehicles: VehicleProvider) -> AppFactory:
    """The server app's factory, flying `vehicles` (for a benchmark)."""
    from web.server import create_app

    return partial(create_app, vehicles=vehicles)


def _px4_commit() -> str:
    """The commit the PX4 build in DFR_PX4_DIR was made from; CommandError without one."""
    from sitl.px4_launcher import Px4NotFound, px4_build_dir, px4_commit

    try:
        return px4_commit(px4_build_dir())
    except Px4NotFound as exc:
        raise CommandError(str(exc)) from exc


def _serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from dfr.auth import ensure_demo_users
    from dfr.log_redaction import uvicorn_log_config

    overrides = {
        "deployment": args.deployment,
        "host": args.host,
        "port": args.port,
        "state_dir": args.state_dir,
        "database": args.database,
        "sim_speed_factor": args.speed,
        "simulate": False if args.no_sim else None,
        "tls_cert_file": args.tls_cert,
        "tls_key_file": args.tls_key,
    }
    settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    deployment = load_deployment(settings.deployment)  # fail early, with the file's name
    for refused in (_unusable_database(settings), _unusable_tls(settings)):
        if refused is not None:
            print(f"dfr: error: {refused}", file=sys.stderr)
            return 2
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    base = f"{'https' if settings.https else 'http'}://{settings.host}:{settings.port}"
    print(
        f"dfr: {deployment.name}, {len(deployment.stations)} station(s)"
        f"{' with simulated drones' if settings.simulate else ''}"
    )
    for name, path in (
        ("log in", "/"),
        ("dispatcher", "/dispatcher"),
        ("pilot console", "/pilot"),
        ("RTCC wall", "/wall"),
        ("public log", "/transparency"),
        ("API docs", "/docs"),
    ):
        print(f"  {name:<14} {base}{path}")
    users = settings.users_path
    passwords = settings.state_dir / "demo-passwords.txt"
    if settings.users_file is None:
        ensure_demo_users(users, deployment.agencies.ids)
        who = (
            "per agency <agency>-dispatcher, -pilot, -rtcc, -officer; fusion; admin"
            if deployment.agencies
            else "dispatcher, pilot, rtcc, admin, officer"
        )
        print(f"  users: {users} — demo users {who}; their passwords are in {passwords}")
        if passwords.exists():
            for line in passwords.read_text().splitlines():
                print(f"    {line}")
    officer = "<agency>-officer" if deployment.agencies else "officer"
    print(f'  officers log in (user {officer}) for "Drone to me" at /officer, or open a share link')
    if not settings.https and not is_loopback(settings.host):
        print(
            f"  warning: plain HTTP on {settings.host}: passwords and tokens cross the network"
            " in the clear, and phones share no location with the officer page; serve HTTPS"
            " (--tls-cert/--tls-key) or behind a reverse proxy that does"
        )
    app = server_app(settings, deployment)
    log_config = uvicorn_log_config(uvicorn.config.LOGGING_CONFIG)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        log_config=log_config,
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
        ssl_keyfile_password=settings.tls_key_password,
    )
    return 0


def _unusable_tls(settings: Settings) -> str | None:
    """Why the server cannot serve HTTPS with its certificate and key (a file missing or
    unreadable, not PEM, or a key that is not the certificate's), None when it can."""
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(
            settings.tls_cert_file, settings.tls_key_file, settings.tls_key_password
        )
    except (OSError, ssl.SSLError) as exc:
        return (
            f"cannot serve HTTPS with certificate {settings.tls_cert_file}"
            f" and key {settings.tls_key_file}: {exc}"
        )
    return None


def _unusable_database(settings: Settings) -> str | None:
    """Why the server cannot start on its database (unreachable, or newer than this
    dfr), None when it can; a new SQLite file is fine."""
    from dfr.db_admin import database_version
    from dfr.db_connection import DatabaseError, describe
    from dfr.store_schema import LATEST, newer_schema_message

    target = settings.database_target
    if not settings.database_is_postgres and not settings.database_path.exists():
        return None
    try:
        version = database_version(target)
    except DatabaseError as exc:
        return f"cannot open the database {describe(target)}: {exc}"
    return f"{describe(target)}: {newer_schema_message(version)}" if version > LATEST else None


if __name__ == "__main__":
    sys.exit(main())
