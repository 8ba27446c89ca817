"""The sorties this server is flying (or holding for the pilot), looked up by sortie, station
or call: one board that the sortie runner writes and everyone else reads."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dfr.flight_executor import FlightExecutor
from dfr.store import CallRecord, SortieRecord
from missions.profile import Station
from missions.route import Route


@dataclass
class ActiveSortie:
    """A sortie this server is flying (or waiting for the pilot to confirm)."""

    record: SortieRecord
    call: CallRecord
    station: Station
    route: Route  # fenced, as flown
    eta_s: float
    executor: FlightExecutor | None = None
    launched_by: str | None = None
    launched_at: str | None = None
    persisted: int = 0  # transitions already written to the store
    #: The executor's `transfers_version` last written (mission and fence, as uploaded
    #: and read back).
    transfers_saved: int = 0
    #: The launch policy that sent it, and, while a policy holds it for the pilot, until
    #: when (UTC ISO 8601).
    policy: str | None = None
    confirm_expires_at: str | None = None
    #: A launch held for the pilot was taken up (confirmed, timed out or withdrawn):
    #: claimed before anything is awaited, so only the first of them acts.
    claimed: bool = False
    #: The agency owning the drone (dfr.agencies; None: the implicit one), and whether it
    #: flies into another agency's jurisdiction (mutual aid: its rule).
    agency: str | None = None
    mutual_aid: str | None = None

    @property
    def state(self) -> str:
        """The sortie's state as consoles name it (before launch: waiting for the pilot)."""
        return "awaiting_pilot" if self.executor is None else str(self.executor.state)


class SortieBoard:
    """Active sorties by id; at most one per station."""

    def __init__(self) -> None:
        self._by_id: dict[int, ActiveSortie] = {}

    def add(self, active: ActiveSortie) -> None:
        self._by_id[active.record.id] = active

    def remove(self, sortie_id: int) -> None:
        self._by_id.pop(sortie_id, None)

    def get(self, sortie_id: int) -> ActiveSortie | None:
        return self._by_id.get(sortie_id)

    def __contains__(self, sortie_id: object) -> bool:
        return sortie_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[ActiveSortie]:
        return iter(list(self._by_id.values()))

    def for_station(self, station_id: str) -> ActiveSortie | None:
        return next((a for a in self if a.station.id == station_id), None)

    def for_call(self, call_id: int) -> ActiveSortie | None:
        """The sortie serving the call now. A call under overwatch may have two: the
        drone on scene and its relief; the relief serves it from when it is on scene."""
        mine = [a for a in self if a.call.id == call_id]
        on_scene = [a for a in mine if a.state == "on_scene"]
        if on_scene:
            return max(on_scene, key=lambda a: a.record.id)
        return min(mine, key=lambda a: a.record.id, default=None)

    def of_call(self, call_id: int) -> list[ActiveSortie]:
        """Every sortie flying for the call (more than one under overwatch)."""
        return [a for a in self if a.call.id == call_id]

    def call_served_by(self, station_id: str) -> CallRecord | None:
        """The call the station's drone is flying for (or about to), if any."""
        active = self.for_station(station_id)
        return active.call if active is not None else None
