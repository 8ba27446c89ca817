"""Pilot commands to a drone in flight: hold, resume, orbit, reposition, return, land, abort.

Each command is audited once it is done or refused: who gave it, and the outcome (the
reason the pilot was given when the command, the sortie or the vehicle refused it).

Errors::

    CommandError
    ├── DroneNotFound   no drone with that id (HTTP 404)
    ├── NotFlying       the drone has no sortie in flight (HTTP 409)
    └── BadCommand      a command missing what it needs, or unknown (HTTP 422)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dfr.active_sorties import SortieBoard
from dfr.auth import Principal
from dfr.deployment import Deployment
from dfr.flight_executor import FlightExecutor
from dfr.store import Store
from missions.geo import GeoPoint

DEFAULT_ORBIT_RADIUS_M = 50.0


class CommandError(Exception):
    """Base of the pilot command errors."""


class DroneNotFound(CommandError):
    pass


class NotFlying(CommandError):
    pass


class BadCommand(CommandError):
    pass


@dataclass(frozen=True, slots=True)
class PilotCommand:
    """hold, resume, orbit (radius_m), reposition (point, altitude), return, land, abort."""

    command: str
    radius_m: float | None = None
    point: GeoPoint | None = None
    relative_altitude_m: float | None = None


class PilotCommands:
    def __init__(self, deployment: Deployment, board: SortieBoard, store: Store) -> None:
        self._deployment = deployment
        self._board = board
        self._store = store

    async def command(self, drone_id: str, body: PilotCommand, who: Principal) -> dict[str, Any]:
        """Send `body` to the drone's sortie. Raises CommandError, and the executor's
        FlightError or the link's LinkError when the vehicle refuses."""
        details = {"radius_m": body.radius_m, "relative_altitude_m": body.relative_altitude_m}
        if body.point is not None:
            details.update(lat=body.point.latitude_deg, lon=body.point.longitude_deg)
        async with self._store.attempt(
            who.name,
            f"command.{body.command}",
            f"drone:{drone_id}",
            {k: v for k, v in details.items() if v is not None},
        ) as audited:
            station = next((s for s in self._deployment.stations if s.drone.id == drone_id), None)
            if station is None:
                raise DroneNotFound(f"no drone {drone_id!r}")
            active = self._board.for_station(station.id)
            if active is None or active.executor is None:
                raise NotFlying(f"drone {drone_id} has no sortie in flight")
            ex = active.executor
            audited["sortie_id"] = active.record.id
            await self._send(ex, body)
        return {
            "drone_id": drone_id,
            "command": body.command,
            "sortie_id": active.record.id,
            "sortie_state": str(ex.state),
        }

    @staticmethod
    async def _send(ex: FlightExecutor, body: PilotCommand) -> None:
        match body.command:
            case "hold":
                await ex.hold()
            case "resume":
                await ex.resume()
            case "orbit":
                await ex.orbit(body.radius_m or DEFAULT_ORBIT_RADIUS_M)
            case "reposition":
                if body.point is None:
                    raise BadCommand("reposition needs latitude_deg and longitude_deg")
                await ex.reposition(body.point, body.relative_altitude_m)
            case "return":
                await ex.return_home()
            case "land":
                await ex.land()
            case "abort":
                await ex.abort()
            case _:
                raise BadCommand(f"unknown command {body.command!r}")
