"""What the `dfr` command's modules share: the --deployment and --database options,
and the wiring the composition root (`dfr.cli`) lends to the commands that fly vehicles
or run a server, so that only the composition root reaches the simulators and the web
app."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from dfr.services import VehicleProvider

if TYPE_CHECKING:
    from dfr.bench_autolaunch import AppFactory


class CommandError(Exception):
    """A command cannot go on: `dfr: error: <the message>`, exit status 2."""


class VehiclesFor(Protocol):
    """`dfr.cli.vehicles_for`: the built-in simulator, PX4 SITL, or None (real drones)."""

    def __call__(
        self, simulate: bool, speed_factor: float, port_base: int, px4: bool = False
    ) -> VehicleProvider | None: ...


@dataclass(frozen=True)
class Wiring:
    """What the composition root lends the commands: the vehicles they fly, the server
    app around given vehicles, and the PX4 build's commit (raises CommandError when
    there is no PX4 build)."""

    vehicles_for: VehiclesFor
    app_with: Callable[[VehicleProvider], AppFactory]
    px4_commit: Callable[[], str]


def database_arg(sp: argparse.ArgumentParser) -> None:
    """The --database option."""
    sp.add_argument(
        "--database",
        default=None,
        help="postgresql://user@host/db or an SQLite file"
        " (default: DFR_DATABASE, else the state dir's dfr.sqlite)",
    )


def deployment_arg(sp: argparse.ArgumentParser) -> None:
    """The --deployment option."""
    sp.add_argument(
        "--deployment",
        type=Path,
        default=None,
        help="deployment TOML (default: the built-in Pueblo deployment)",
    )
