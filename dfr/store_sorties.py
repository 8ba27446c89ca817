"""Sorties once reserved: their states and route as they fly, held for the pilot,
launched, re-tasked to another call (and the re-task undone), read one by one or listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from dfr.db_connection import Connection
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_base import StoreBase, at_most, read_call, read_sortie
from dfr.store_records import (
    OPEN_CALL_STATES,
    RETASKABLE_STATES,
    Conflict,
    NotFound,
    NotRetaskable,
    Retasked,
    SortieRecord,
    utc_now,
)


class SortieStore(StoreBase):
    """The sorties table and each sortie's events."""

    async def record_sortie_state(
        self, sortie_id: int, state: str, cause: str = "", vehicle_s: float | None = None
    ) -> None:
        await self.record_sortie_states(sortie_id, [(state, cause, vehicle_s)])

    async def record_sortie_states(
        self, sortie_id: int, changes: Sequence[tuple[str, str, float | None]]
    ) -> None:
        """Store state changes (state, cause, vehicle time), in order, in one transaction:
        a reader never sees a state a later change in the same batch replaced (landed,
        then docked a moment later, read as "landed away")."""
        if not changes:
            return

        def work(c: Connection) -> None:
            with transaction(c):
                if (
                    c.execute(
                        "UPDATE sorties SET state = ? WHERE id = ?", (changes[-1][0], sortie_id)
                    ).rowcount
                    != 1
                ):
                    raise NotFound(f"no sortie {sortie_id}")
                at = utc_now()
                c.executemany(
                    "INSERT INTO sortie_events (sortie_id, at, state, vehicle_s, cause)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(sortie_id, at, state, t, cause) for state, cause, t in changes],
                )

        await self._run_conn(work)

    async def retask(
        self,
        sortie_id: int,
        call_id: int,
        actor: str,
        eta_s: float | None,
        route: dict,
        from_call_id: int | None,
    ) -> Retasked:
        """Atomically move a flying sortie from `from_call_id` (the call it served when it
        was ranked) to another open call: that call is dispatched; the call it served, if
        its drone had not yet left it (en route or on scene), is open again ("new") for
        another drone. Raises NotRetaskable (the sortie is not in the air, or another
        dispatch moved it meanwhile), Conflict (the call is no longer open), NotFound."""

        def work(c: Connection) -> Retasked:
            with transaction(c):
                call = read_call(c, call_id)
                if call.status not in OPEN_CALL_STATES:
                    raise Conflict(f"call {call_id} is {call.status}")
                sortie = read_sortie(c, sortie_id)
                if sortie.state not in RETASKABLE_STATES:
                    raise NotRetaskable(f"sortie {sortie_id} is {sortie.state}")
                if sortie.call_id != from_call_id:
                    raise NotRetaskable(f"sortie {sortie_id} now serves call {sortie.call_id}")
                previous = None if sortie.call_id is None else read_call(c, sortie.call_id)
                c.execute(
                    "UPDATE sorties SET call_id = ?, eta_s = ?, route = ? WHERE id = ?",
                    (call_id, eta_s, json.dumps(route), sortie_id),
                )
                c.execute("UPDATE calls SET status = 'dispatched' WHERE id = ?", (call_id,))
                why = f"re-tasked to call {call_id} by {actor}"
                if previous is not None:
                    why = f"re-tasked from call {previous.id} to call {call_id} by {actor}"
                    if previous.status == "dispatched" and sortie.state != "returning":
                        c.execute("UPDATE calls SET status = 'new' WHERE id = ?", (previous.id,))
                        details = {"sortie_id": sortie_id, "retasked_to_call": call_id}
                        audit_in(c, actor, "call.new", f"call:{previous.id}", details)
                c.execute(
                    "INSERT INTO sortie_events (sortie_id, at, state, cause) VALUES (?, ?, ?, ?)",
                    (sortie_id, utc_now(), sortie.state, why),
                )
                audit_in(
                    c,
                    actor,
                    "sortie.retask",
                    f"sortie:{sortie_id}",
                    {
                        "from_call_id": sortie.call_id,
                        "to_call_id": call_id,
                        "drone_id": sortie.drone_id,
                        "sortie_state": sortie.state,
                        "eta_s": eta_s,
                    },
                )
                return Retasked(
                    read_sortie(c, sortie_id),
                    read_call(c, call_id),
                    None if previous is None else read_call(c, previous.id),
                    None if previous is None else previous.status,
                    sortie.route,
                    sortie.eta_s,
                )

        return await self._run_conn(work)

    async def undo_retask(self, retasked: Retasked, actor: str, cause: str) -> None:
        """The drone did not take the new mission in flight: the sortie serves its call
        again, and the call it was moved to is open again."""
        sortie_id = retasked.sortie.id
        previous = retasked.previous

        def work(c: Connection) -> None:
            with transaction(c):
                c.execute(
                    "UPDATE sorties SET call_id = ?, eta_s = ?, route = ? WHERE id = ?",
                    (
                        None if previous is None else previous.id,
                        retasked.previous_eta_s,
                        json.dumps(retasked.previous_route),
                        sortie_id,
                    ),
                )
                c.execute(
                    "UPDATE calls SET status = 'new' WHERE id = ? AND status = 'dispatched'",
                    (retasked.call.id,),
                )
                if previous is not None and retasked.previous_status is not None:
                    # Only what the re-task opened: a call closed or sent another drone
                    # since stays as it is.
                    c.execute(
                        "UPDATE calls SET status = ? WHERE id = ? AND status = 'new'",
                        (retasked.previous_status, previous.id),
                    )
                details = {"call_id": retasked.call.id, "cause": cause}
                audit_in(c, actor, "sortie.retask_undone", f"sortie:{sortie_id}", details)

        await self._run_conn(work)

    async def record_sortie_route(self, sortie_id: int, route: dict) -> None:
        """The route a sortie flies now (GeoJSON, `Route.as_geojson()`): replaced when the
        drone is sent to a new target in flight; what a restart follows the drone by."""

        def work(c: Connection) -> None:
            with transaction(c):
                updated = c.execute(
                    "UPDATE sorties SET route = ? WHERE id = ?", (json.dumps(route), sortie_id)
                ).rowcount
                if updated != 1:
                    raise NotFound(f"no sortie {sortie_id}")

        await self._run_conn(work)

    async def hold_for_pilot(
        self, sortie_id: int, cause: str, confirm_expires_at: str | None = None
    ) -> SortieRecord:
        """A reserved sortie waits for the pilot's confirmation (a policy's: until
        `confirm_expires_at`, UTC ISO 8601)."""

        def work(c: Connection) -> SortieRecord:
            with transaction(c):
                updated = c.execute(
                    "UPDATE sorties SET state = 'awaiting_pilot', confirm_expires_at = ?"
                    " WHERE id = ?",
                    (confirm_expires_at, sortie_id),
                )
                if updated.rowcount != 1:
                    raise NotFound(f"no sortie {sortie_id}")
                c.execute(
                    "INSERT INTO sortie_events (sortie_id, at, state, cause)"
                    " VALUES (?, ?, 'awaiting_pilot', ?)",
                    (sortie_id, utc_now(), cause),
                )
            return read_sortie(c, sortie_id)

        return await self._run_conn(work)

    async def mark_launched(self, sortie_id: int, actor: str) -> SortieRecord:
        """Record who launched a reserved sortie, and when (the audit log has it too)."""

        def work(c: Connection) -> SortieRecord:
            now = utc_now()
            with transaction(c):
                updated = c.execute(
                    "UPDATE sorties SET launched_by = ?, launched_at = ? WHERE id = ?",
                    (actor, now, sortie_id),
                )
                if updated.rowcount != 1:
                    raise NotFound(f"no sortie {sortie_id}")
                audit_in(c, actor, "sortie.launch", f"sortie:{sortie_id}", {})
            return read_sortie(c, sortie_id)

        return await self._run_conn(work)

    async def get_sortie(self, sortie_id: int) -> SortieRecord:
        return await self._run_conn(lambda c: read_sortie(c, sortie_id))

    async def list_sorties(
        self, after_id: int = 0, limit: int = -1, not_in_states: Iterable[str] = ()
    ) -> list[SortieRecord]:
        """Sorties by id after `after_id` (a cursor), at most `limit` (-1: all), leaving out
        those in `not_in_states`."""
        skip = tuple(not_in_states)

        def work(c: Connection) -> list[SortieRecord]:
            where = "id > ?" + (f" AND state NOT IN ({','.join('?' * len(skip))})" if skip else "")
            rows = c.execute(
                f"SELECT id FROM sorties WHERE {where} ORDER BY id LIMIT ?",
                (after_id, *skip, at_most(limit)),
            ).fetchall()
            return [read_sortie(c, r["id"]) for r in rows]

        return await self._run_conn(work)

    async def latest_sortie_for_call(self, call_id: int) -> SortieRecord | None:
        def work(c: Connection) -> SortieRecord | None:
            row = c.execute(
                "SELECT id FROM sorties WHERE call_id = ? ORDER BY id DESC LIMIT 1", (call_id,)
            ).fetchone()
            return read_sortie(c, row["id"]) if row is not None else None

        return await self._run_conn(work)
