"""Drones and their reservations: each drone's row and whether it is out of service; a
free drone taken for a new sortie (a dispatch, an overwatch relief) in one writing
transaction, so two dispatchers never get the same one; and the drone given back when
its sortie ends or is withdrawn before launch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dfr.db_connection import Connection
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_base import StoreBase, read_call, read_sortie, write_policy
from dfr.store_records import (
    FINAL_SORTIE_STATES,
    OPEN_CALL_STATES,
    UNLAUNCHED_STATES,
    CallRecord,
    Conflict,
    NotFound,
    SortieRecord,
    utc_now,
)


class DroneStore(StoreBase):
    """The drones table, and the sorties that reserve and release its drones."""

    async def register_drones(self, drones: Iterable[tuple[str, str]]) -> None:
        """Make sure each (drone_id, station_id) has a row; existing rows keep their sortie."""
        items = list(drones)

        def work(c: Connection) -> None:
            with transaction(c):
                c.executemany(
                    "INSERT INTO drones (drone_id, station_id) VALUES (?, ?)"
                    " ON CONFLICT(drone_id) DO UPDATE SET station_id = excluded.station_id",
                    items,
                )

        await self._run_conn(work)

    async def drone_sorties(self) -> dict[str, int | None]:
        """drone_id → the sortie holding it (None when free)."""
        rows = await self._run_conn(
            lambda c: c.execute("SELECT drone_id, sortie_id FROM drones").fetchall()
        )
        return {r["drone_id"]: r["sortie_id"] for r in rows}

    async def set_out_of_service(self, drone_id: str, reason: str | None) -> None:
        """Take a drone out of service (with why), or put it back (None); kept across
        restarts like everything else a person decided."""
        await self._run_conn(
            lambda c: c.execute(
                "UPDATE drones SET out_of_service = ? WHERE drone_id = ?", (reason, drone_id)
            )
        )

    async def out_of_service(self) -> dict[str, str]:
        """drone_id → why it is out of service, for the drones that are."""
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT drone_id, out_of_service FROM drones WHERE out_of_service IS NOT NULL"
            ).fetchall()
        )
        return {r["drone_id"]: r["out_of_service"] for r in rows}

    async def reserve(
        self,
        drone_id: str,
        station_id: str,
        call_id: int | None,
        actor: str,
        eta_s: float | None = None,
        route: dict | None = None,
        policy: str | None = None,
    ) -> SortieRecord | None:
        """Atomically take a free drone for a new sortie; None when it is already taken.
        `policy`: the launch policy sending it (`actor` is then `policy:<name>`).

        Raises Conflict when the call is no longer open (already dispatched or closed).
        """

        def work(c: Connection) -> SortieRecord | None:
            with transaction(c):
                if call_id is not None:
                    row = c.execute("SELECT status FROM calls WHERE id = ?", (call_id,)).fetchone()
                    if row is None:
                        raise NotFound(f"no call {call_id}")
                    if row["status"] not in OPEN_CALL_STATES:
                        raise Conflict(f"call {call_id} is {row['status']}")
                sortie_id = _take_drone(
                    c,
                    {
                        "call_id": call_id,
                        "drone_id": drone_id,
                        "station_id": station_id,
                        "created_by": actor,
                        "eta_s": eta_s,
                        "route": json.dumps(route or {}),
                        "policy": policy,
                    },
                    f"dispatched by {actor}",
                )
                if sortie_id is None:
                    return None
                if call_id is not None:
                    c.execute("UPDATE calls SET status = 'dispatched' WHERE id = ?", (call_id,))
                details: dict[str, Any] = {
                    "call_id": call_id,
                    "drone_id": drone_id,
                    "station_id": station_id,
                    "eta_s": eta_s,
                }
                if policy is not None:
                    details["policy"] = policy
                audit_in(c, actor, "sortie.dispatch", f"sortie:{sortie_id}", details)
            return read_sortie(c, sortie_id)

        return await self._run_conn(work)

    async def reserve_relief(
        self,
        drone_id: str,
        station_id: str,
        relieves: int,
        actor: str,
        eta_s: float | None = None,
        route: dict | None = None,
    ) -> SortieRecord | None:
        """Atomically take a free drone to relieve sortie `relieves` over its call (kept
        under overwatch, `dfr.overwatch`); None when the drone is already taken. The
        call stays dispatched. Raises NotFound, and Conflict when that sortie no longer
        serves a call in progress or already has a relief."""

        def work(c: Connection) -> SortieRecord | None:
            with transaction(c):
                relieved = read_sortie(c, relieves)
                if relieved.call_id is None or relieved.state in FINAL_SORTIE_STATES:
                    raise Conflict(f"sortie {relieves} serves no call any more")
                call = read_call(c, relieved.call_id)
                if call.status != "dispatched":
                    raise Conflict(f"call {call.id} is {call.status}")
                if c.execute(
                    "SELECT 1 FROM sorties WHERE relieves = ? AND state NOT IN"
                    f" ({','.join('?' * len(FINAL_SORTIE_STATES))})",
                    (relieves, *FINAL_SORTIE_STATES),
                ).fetchone():
                    raise Conflict(f"sortie {relieves} already has a relief")
                sortie_id = _take_drone(
                    c,
                    {
                        "call_id": call.id,
                        "drone_id": drone_id,
                        "station_id": station_id,
                        "created_by": actor,
                        "eta_s": eta_s,
                        "route": json.dumps(route or {}),
                        "relieves": relieves,
                    },
                    f"relieves sortie {relieves} over call {call.id}",
                )
                if sortie_id is None:
                    return None
                details = {
                    "call_id": call.id,
                    "drone_id": drone_id,
                    "station_id": station_id,
                    "eta_s": eta_s,
                    "relieves": relieves,
                    "relieved_drone_id": relieved.drone_id,
                }
                audit_in(c, actor, "sortie.relief", f"sortie:{sortie_id}", details)
            return read_sortie(c, sortie_id)

        return await self._run_conn(work)

    async def withdraw(
        self, sortie_id: int, actor: str, cause: str, policy_outcome: str | None = None
    ) -> CallRecord | None:
        """Give up a sortie that never launched (its confirmation expired, the pilot
        declined it, the server restarted while it waited): it ends as aborted, its drone
        is free, and its call is open again ("new") for a dispatcher, with
        `policy_outcome` and `cause` as what came of the policy that sent it. One
        transaction, audited. Returns the call (None for a sortie without one).

        Raises NotFound, and Conflict for a sortie already launched or ended."""

        def work(c: Connection) -> CallRecord | None:
            with transaction(c):
                sortie = read_sortie(c, sortie_id)
                if sortie.launched_by is not None or sortie.state not in UNLAUNCHED_STATES:
                    raise Conflict(f"sortie {sortie_id} is {sortie.state}: it cannot be withdrawn")
                c.execute("UPDATE drones SET sortie_id = NULL WHERE sortie_id = ?", (sortie_id,))
                c.execute("UPDATE sorties SET state = 'aborted' WHERE id = ?", (sortie_id,))
                c.execute(
                    "INSERT INTO sortie_events (sortie_id, at, state, cause)"
                    " VALUES (?, ?, 'aborted', ?)",
                    (sortie_id, utc_now(), cause),
                )
                details = {"drone_id": sortie.drone_id, "state": "aborted", "cause": cause}
                audit_in(c, actor, "sortie.release", f"sortie:{sortie_id}", details)
                if sortie.call_id is None:
                    return None
                call = read_call(c, sortie.call_id)
                if call.status == "dispatched":
                    c.execute("UPDATE calls SET status = 'new' WHERE id = ?", (call.id,))
                    audit_in(c, actor, "call.new", f"call:{call.id}", {"sortie_id": sortie_id})
                if policy_outcome is not None:
                    write_policy(c, call.id, sortie.policy, policy_outcome, cause, actor)
                return read_call(c, call.id)

        return await self._run_conn(work)

    async def release(self, sortie_id: int, final_state: str, actor: str, cause: str = "") -> None:
        """End a sortie and free its drone for the next call."""

        def work(c: Connection) -> None:
            with transaction(c):
                row = c.execute(
                    "SELECT drone_id FROM sorties WHERE id = ?", (sortie_id,)
                ).fetchone()
                if row is None:
                    raise NotFound(f"no sortie {sortie_id}")
                c.execute("UPDATE drones SET sortie_id = NULL WHERE sortie_id = ?", (sortie_id,))
                c.execute("UPDATE sorties SET state = ? WHERE id = ?", (final_state, sortie_id))
                c.execute(
                    "INSERT INTO sortie_events (sortie_id, at, state, cause) VALUES (?, ?, ?, ?)",
                    (sortie_id, utc_now(), final_state, cause),
                )
                audit_in(
                    c,
                    actor,
                    "sortie.release",
                    f"sortie:{sortie_id}",
                    {"drone_id": row["drone_id"], "state": final_state, "cause": cause},
                )

        await self._run_conn(work)


def _take_drone(c: Connection, sortie: dict[str, Any], cause: str) -> int | None:
    """Reserve `sortie["drone_id"]` if it is free and insert the sortie (`sortie`: its
    columns), reserved, with its first event; its id, None when the drone is taken."""
    taken = c.execute(
        "UPDATE drones SET sortie_id = -1 WHERE drone_id = ? AND sortie_id IS NULL",
        (sortie["drone_id"],),
    )
    if taken.rowcount != 1:
        return None
    now = utc_now()
    row = {**sortie, "state": "reserved", "created_at": now}
    columns = ", ".join(row)  # the callers' own column names, never input
    cur = c.execute(
        f"INSERT INTO sorties ({columns}) VALUES ({', '.join('?' * len(row))}) RETURNING id",
        tuple(row.values()),
    )
    sortie_id = int(cur.fetchall()[0][0])
    c.execute("UPDATE drones SET sortie_id = ? WHERE drone_id = ?", (sortie_id, sortie["drone_id"]))
    c.execute(
        "INSERT INTO sortie_events (sortie_id, at, state, cause) VALUES (?, ?, 'reserved', ?)",
        (sortie_id, now, cause),
    )
    return sortie_id
