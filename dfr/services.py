"""The application's collaborators, opened for a composition root: accounts, the store,
the deployment's vehicles, the fleet of links to them and each drone's ETA figures.

    async with open_services(settings, deployment, vehicles) as services:
        ops = Operations(services, ...)

`vehicles` is how the stations' drones come to exist: None for real drones (or
PX4 already running) at the deployment's addresses; the composition root passes
the built-in simulator or PX4 SITL launcher here. It never decides that itself.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace

from dfr.audit_signing import CheckpointPolicy, SigningKey
from dfr.auth import TokenIssuer, UserDirectory, ensure_demo_users, ensure_secret_key
from dfr.deployment import Deployment
from dfr.fleet_eta import FleetEta
from dfr.refusal_log import RefusalLog
from dfr.settings import Settings
from dfr.store import Store
from missions.profile import Station
from stations.fleet import Fleet

log = logging.getLogger(__name__)

VehicleProvider = Callable[[Sequence[Station]], AbstractAsyncContextManager[Sequence[Station]]]
"""Runs a vehicle for each station while entered; yields the stations, their drone
addresses pointing at those vehicles."""


@dataclass(frozen=True, slots=True)
class Services:
    deployment: Deployment  # its stations' addresses are those of the running vehicles
    store: Store
    fleet: Fleet
    users: UserDirectory
    tokens: TokenIssuer
    refusals: RefusalLog  # denied and refused attempts, audited with a bound per address
    eta: FleetEta  # each drone's ETA figures, calibrated from its own flights


def open_accounts(
    settings: Settings, agencies: Sequence[str] = ()
) -> tuple[UserDirectory, TokenIssuer]:
    """The users file (demo users created on a first run without one, per agency with
    `agencies`) and the token signer."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if settings.users_file is None and ensure_demo_users(settings.users_path, agencies):
        log.warning(
            "created %s with demo users (passwords in %s)",
            settings.users_path,
            settings.state_dir / "demo-passwords.txt",
        )
    secret = settings.secret_key or ensure_secret_key(settings.state_dir / "secret.key")
    tokens = TokenIssuer(secret, settings.session_ttl_s, settings.share_link_ttl_s)
    return UserDirectory.load(settings.users_path), tokens


def audit_checkpoints(settings: Settings) -> CheckpointPolicy:
    """How the store signs its audit chain: the state dir's key (made the first time),
    every `audit_checkpoint_every` entries, copied to the state dir's checkpoints file."""
    key = SigningKey.load_or_create(settings.audit_signing_key_path)
    return CheckpointPolicy(key, settings.audit_checkpoint_every, settings.audit_checkpoints_path)


@contextlib.asynccontextmanager
async def open_services(
    settings: Settings, deployment: Deployment, vehicles: VehicleProvider | None = None
) -> AsyncIterator[Services]:
    users, tokens = open_accounts(settings, deployment.agencies.ids)
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(
            Store.open(settings.database_target, audit_checkpoints(settings))
        )
        refusals = await stack.enter_async_context(
            RefusalLog.running(
                store, settings.refusals_audited_per_address, settings.refusal_audit_window_s
            )
        )
        if vehicles is not None:
            stations = await stack.enter_async_context(vehicles(deployment.stations))
            deployment = replace(deployment, stations=tuple(stations))
        fleet = await stack.enter_async_context(
            # On PostgreSQL, a drone is linked only while this server holds its lease.
            Fleet.running(
                deployment.stations, settings.fleet_settings(), settings.database_is_postgres
            )
        )
        eta = await FleetEta.open(deployment, store)
        yield Services(deployment, store, fleet, users, tokens, refusals, eta)
