"""The store's ETA section: each drone's flown samples and its calibrated figures.

Two tables, created on the store's file when the section is attached (a database of an
earlier release gains them then):

- `eta_samples`: the flights that calibrate a drone (`dfr.eta_calibration.FlownSample`),
  the last `keep` per drone; older ones are deleted as new ones come;
- `eta_calibrations`: one row per calibrated drone, its fitted launch latency and
  acceleration and how many flights they come from. No row: the deployment's figures.

A change of a drone's figures is audited (`eta.calibration`, actor `system`, subject
`drone:<id>`) in the transaction that makes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from dfr.db_connection import Connection
from dfr.eta_calibration import DroneEta, FlownSample
from dfr.store import Store, audit_in, transaction, utc_now

SCHEMA = """
CREATE TABLE IF NOT EXISTS eta_samples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    drone_id TEXT NOT NULL,
    sortie_id INTEGER NOT NULL,
    flown_at TEXT NOT NULL,
    legs_m TEXT NOT NULL,
    turns_deg TEXT NOT NULL,
    cruise_altitude_m REAL NOT NULL,
    cruise_speed_m_s REAL NOT NULL,
    climb_m_s REAL NOT NULL,
    dispatch_to_takeoff_s REAL NOT NULL,
    dispatch_to_on_scene_s REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS eta_samples_by_drone ON eta_samples(drone_id, id);
CREATE TABLE IF NOT EXISTS eta_calibrations (
    drone_id TEXT PRIMARY KEY,
    launch_latency_s REAL NOT NULL,
    horizontal_accel_m_s2 REAL NOT NULL,
    flights INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
"""

_SAMPLE_COLUMNS = (
    "drone_id, sortie_id, legs_m, turns_deg, cruise_altitude_m, cruise_speed_m_s,"
    " climb_m_s, dispatch_to_takeoff_s, dispatch_to_on_scene_s"
)


@dataclass(frozen=True, slots=True)
class SavedCalibration:
    """A drone's calibrated figures as stored."""

    drone_id: str
    launch_latency_s: float
    horizontal_accel_m_s2: float
    flights: int
    updated_at: str


class EtaStore:
    """The ETA section of a `Store`: `await EtaStore.attach(store)` while the store is open."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @classmethod
    async def attach(cls, store: Store) -> EtaStore:
        """The section on `store`, its tables created if the file lacks them."""
        await store.run_section(lambda c: c.executescript(SCHEMA))
        return cls(store)

    async def add_sample(self, sample: FlownSample, keep: int) -> list[FlownSample]:
        """Store a drone's new sample, keep its last `keep`; returns those, oldest first."""

        def work(c: Connection) -> list[FlownSample]:
            with transaction(c):
                c.execute(
                    f"INSERT INTO eta_samples ({_SAMPLE_COLUMNS}, flown_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sample.drone_id,
                        sample.sortie_id,
                        json.dumps(sample.legs_m),
                        json.dumps(sample.turns_deg),
                        sample.cruise_altitude_m,
                        sample.cruise_speed_m_s,
                        sample.climb_m_s,
                        sample.dispatch_to_takeoff_s,
                        sample.dispatch_to_on_scene_s,
                        utc_now(),
                    ),
                )
                c.execute(
                    "DELETE FROM eta_samples WHERE drone_id = ? AND id NOT IN"
                    " (SELECT id FROM eta_samples WHERE drone_id = ? ORDER BY id DESC LIMIT ?)",
                    (sample.drone_id, sample.drone_id, keep),
                )
                return _samples(c, sample.drone_id)

        return await self._store.run_section(work)

    async def samples(self, drone_id: str) -> list[FlownSample]:
        """The drone's kept samples, oldest first."""
        return await self._store.run_section(lambda c: _samples(c, drone_id))

    async def sample_counts(self) -> dict[str, int]:
        """How many samples each drone has kept."""

        def work(c: Connection) -> dict[str, int]:
            rows = c.execute("SELECT drone_id, COUNT(*) FROM eta_samples GROUP BY drone_id")
            return {r[0]: r[1] for r in rows}

        return await self._store.run_section(work)

    async def calibrations(self) -> dict[str, SavedCalibration]:
        """Every calibrated drone's stored figures, by drone id."""

        def work(c: Connection) -> dict[str, SavedCalibration]:
            rows = c.execute(
                "SELECT drone_id, launch_latency_s, horizontal_accel_m_s2, flights, updated_at"
                " FROM eta_calibrations"
            )
            return {r["drone_id"]: SavedCalibration(*tuple(r)) for r in rows}

        return await self._store.run_section(work)

    async def save(self, drone_id: str, now: DroneEta, before: DroneEta) -> None:
        """Store the drone's new figures (not calibrated: back to the deployment's), audited
        with what they were."""

        def work(c: Connection) -> None:
            with transaction(c):
                if now.calibrated:
                    c.execute(
                        "INSERT INTO eta_calibrations (drone_id, launch_latency_s,"
                        " horizontal_accel_m_s2, flights, updated_at) VALUES (?, ?, ?, ?, ?)"
                        " ON CONFLICT(drone_id) DO UPDATE SET"
                        " launch_latency_s = excluded.launch_latency_s,"
                        " horizontal_accel_m_s2 = excluded.horizontal_accel_m_s2,"
                        " flights = excluded.flights, updated_at = excluded.updated_at",
                        (
                            drone_id,
                            now.params.launch_latency_s,
                            now.params.horizontal_accel_m_s2,
                            now.flights,
                            utc_now(),
                        ),
                    )
                else:
                    c.execute("DELETE FROM eta_calibrations WHERE drone_id = ?", (drone_id,))
                details = {**now.as_json(), "before": before.as_json()}
                audit_in(c, "system", "eta.calibration", f"drone:{drone_id}", details)

        await self._store.run_section(work)


def _samples(c: Connection, drone_id: str) -> list[FlownSample]:
    rows = c.execute(
        f"SELECT {_SAMPLE_COLUMNS} FROM eta_samples WHERE drone_id = ? ORDER BY id", (drone_id,)
    )
    return [
        FlownSample(
            drone_id=r["drone_id"],
            sortie_id=r["sortie_id"],
            legs_m=tuple(json.loads(r["legs_m"])),
            turns_deg=tuple(json.loads(r["turns_deg"])),
            cruise_altitude_m=r["cruise_altitude_m"],
            cruise_speed_m_s=r["cruise_speed_m_s"],
            climb_m_s=r["climb_m_s"],
            dispatch_to_takeoff_s=r["dispatch_to_takeoff_s"],
            dispatch_to_on_scene_s=r["dispatch_to_on_scene_s"],
        )
        for r in rows
    ]
