"""A sortie's flight records: the mission and fence as uploaded and read back, its
track, the holds on it (evidence, publication), retention's deletion of its track and
transfers, and the ended sorties the public flight log is made from.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import astuple, fields

from dfr.db_connection import Connection
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_base import StoreBase, read_call, read_sortie
from dfr.store_records import (
    CallRecord,
    Conflict,
    FlightRecords,
    HoldKind,
    HoldRecord,
    SortieRecord,
    TrackPoint,
    utc_now,
)


class FlightRecordStore(StoreBase):
    """The tables of each sortie's flight: its transfers, track points and holds; and
    what retention and the public flight log read of them."""

    # -- what went to the vehicle ------------------------------------------------

    async def record_transfers(self, sortie_id: int, transfers: dict[str, dict[str, list]]) -> None:
        """The mission and fence as uploaded and as read back (JSON-ready item lists)."""
        rows = [
            (sortie_id, kind, direction, json.dumps(items), utc_now())
            for kind, by_direction in transfers.items()
            for direction, items in by_direction.items()
        ]
        await self._run_conn(
            lambda c: c.executemany(
                "INSERT INTO sortie_transfers (sortie_id, kind, direction, items, at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (sortie_id, kind, direction)"
                " DO UPDATE SET items = excluded.items, at = excluded.at",
                rows,
            )
        )

    async def transfers(self, sortie_id: int) -> dict[str, dict[str, list]]:
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT kind, direction, items FROM sortie_transfers WHERE sortie_id = ?",
                (sortie_id,),
            ).fetchall()
        )
        out: dict[str, dict[str, list]] = {}
        for r in rows:
            out.setdefault(r["kind"], {})[r["direction"]] = json.loads(r["items"])
        return out

    # -- flight tracks ----------------------------------------------------------

    async def add_track_points(self, points: Iterable[TrackPoint]) -> None:
        rows = [astuple(p) for p in points]

        def work(c: Connection) -> None:
            with transaction(c):
                c.executemany(
                    f"INSERT INTO sortie_track ({_TRACK_COLUMNS})"
                    f" VALUES ({', '.join('?' * len(_TRACK_FIELDS))})",
                    rows,
                )

        await self._run_conn(work)

    async def track(self, sortie_id: int) -> list[TrackPoint]:
        """A sortie's track in time order (empty before launch)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                f"SELECT {_TRACK_COLUMNS} FROM sortie_track WHERE sortie_id = ? ORDER BY at, rowid",
                (sortie_id,),
            ).fetchall()
        )
        return [TrackPoint(*tuple(r)) for r in rows]

    # -- holds ------------------------------------------------------------------

    async def place_hold(
        self, kind: HoldKind, sortie_id: int, actor: str, reason: str
    ) -> HoldRecord:
        """Hold a sortie (audited with who and why). Raises NotFound for no such sortie,
        Conflict when one of this kind holds it already."""

        def work(c: Connection) -> HoldRecord:
            with transaction(c):
                read_sortie(c, sortie_id)
                if _active_hold(c, kind, sortie_id) is not None:
                    raise Conflict(f"sortie {sortie_id} has a {_hold_name(kind)} already")
                cur = c.execute(
                    f"INSERT INTO {kind.table} (sortie_id, placed_by, placed_at, reason)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (sortie_id, actor, utc_now(), reason),
                )
                hold_id = int(cur.fetchall()[0][0])
                details = {"hold_id": hold_id, "reason": reason}
                audit_in(c, actor, f"{kind}.place", f"sortie:{sortie_id}", details)
                return _get_hold(c, kind, hold_id)

        return await self._run_conn(work)

    async def lift_hold(
        self, kind: HoldKind, sortie_id: int, actor: str, reason: str
    ) -> HoldRecord:
        """Lift the sortie's hold of this kind (audited with who and why). Raises
        NotFound for no such sortie, Conflict when none holds it."""

        def work(c: Connection) -> HoldRecord:
            with transaction(c):
                read_sortie(c, sortie_id)
                hold = _active_hold(c, kind, sortie_id)
                if hold is None:
                    raise Conflict(f"sortie {sortie_id} has no {_hold_name(kind)} to lift")
                c.execute(
                    f"UPDATE {kind.table} SET lifted_by = ?, lifted_at = ?, lift_reason = ?"
                    " WHERE id = ?",
                    (actor, utc_now(), reason, hold.id),
                )
                details = {"hold_id": hold.id, "reason": reason}
                audit_in(c, actor, f"{kind}.lift", f"sortie:{sortie_id}", details)
                return _get_hold(c, kind, hold.id)

        return await self._run_conn(work)

    async def holds(self, kind: HoldKind, sortie_id: int) -> list[HoldRecord]:
        """Every hold of this kind the sortie has had, oldest first."""
        rows = await self._run_conn(
            lambda c: c.execute(
                f"SELECT * FROM {kind.table} WHERE sortie_id = ? ORDER BY id", (sortie_id,)
            ).fetchall()
        )
        return [HoldRecord(kind, **dict(r)) for r in rows]

    async def held_sorties(self, kind: HoldKind) -> set[int]:
        """The sorties a hold of this kind holds now."""
        rows = await self._run_conn(
            lambda c: c.execute(
                f"SELECT sortie_id FROM {kind.table} WHERE lifted_at IS NULL"
            ).fetchall()
        )
        return {r["sortie_id"] for r in rows}

    # -- retention ----------------------------------------------------------------

    async def flight_records_ended_before(
        self, before_utc: str, final_states: Iterable[str]
    ) -> list[FlightRecords]:
        """Sorties in one of `final_states` whose last event (or creation) is before
        `before_utc` (ISO UTC, as `utc_now` writes it) and that still have track points
        or transfers, by id."""
        finals = tuple(final_states)
        sql = (
            "SELECT * FROM (SELECT s.id AS sortie_id,"
            " COALESCE((SELECT MAX(at) FROM sortie_events e WHERE e.sortie_id = s.id),"
            " s.created_at) AS last_event_at,"
            " (SELECT COUNT(*) FROM sortie_track t WHERE t.sortie_id = s.id) AS track_points,"
            " (SELECT COUNT(*) FROM sortie_transfers x WHERE x.sortie_id = s.id) AS transfers"
            f" FROM sorties s WHERE s.state IN ({','.join('?' * len(finals)) or 'NULL'}))"
            " AS f WHERE last_event_at < ? AND (track_points > 0 OR transfers > 0)"
            " ORDER BY sortie_id"
        )
        rows = await self._run_conn(lambda c: c.execute(sql, (*finals, before_utc)).fetchall())
        return [FlightRecords(**dict(r)) for r in rows]

    async def delete_flight_records(
        self, sortie_id: int, actor: str, details: dict
    ) -> FlightRecords | None:
        """Delete a sortie's track points and transfers and audit it (`retention.delete`,
        with `details` and the row counts) in one transaction; None, and nothing deleted,
        when an evidence hold holds the sortie now. Raises NotFound."""

        def work(c: Connection) -> FlightRecords | None:
            with transaction(c):
                sortie = read_sortie(c, sortie_id)
                if _active_hold(c, HoldKind.EVIDENCE, sortie_id) is not None:
                    return None
                points = c.execute("DELETE FROM sortie_track WHERE sortie_id = ?", (sortie_id,))
                sent = c.execute("DELETE FROM sortie_transfers WHERE sortie_id = ?", (sortie_id,))
                last_at = sortie.events[-1].at if sortie.events else sortie.created_at
                deleted = FlightRecords(sortie_id, last_at, points.rowcount, sent.rowcount)
                counts = {"track_points": deleted.track_points, "transfers": deleted.transfers}
                audit_in(c, actor, "retention.delete", f"sortie:{sortie_id}", {**details, **counts})
                return deleted

        return await self._run_conn(work)

    # -- the public flight log ----------------------------------------------------

    async def ended_sorties(
        self, final_states: Iterable[str]
    ) -> list[tuple[SortieRecord, CallRecord | None]]:
        """Sorties in one of `final_states`, by id, each with its call."""
        finals = tuple(final_states)

        def work(c: Connection) -> list[tuple[SortieRecord, CallRecord | None]]:
            rows = c.execute(
                f"SELECT id FROM sorties WHERE state IN ({','.join('?' * len(finals)) or 'NULL'})"
                " ORDER BY id",
                finals,
            ).fetchall()
            out = []
            for r in rows:
                sortie = read_sortie(c, r["id"])
                call = read_call(c, sortie.call_id) if sortie.call_id is not None else None
                out.append((sortie, call))
            return out

        return await self._run_conn(work)

    async def recorded_sorties(self) -> set[int]:
        """The sorties whose video was recorded (an audited `recording.saved`)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT DISTINCT subject FROM audit WHERE action = 'recording.saved'"
                " AND subject LIKE 'sortie:%'"
            ).fetchall()
        )
        found = set()
        for r in rows:
            with contextlib.suppress(ValueError):
                found.add(int(r["subject"].removeprefix("sortie:")))
        return found


_TRACK_FIELDS = fields(TrackPoint)
#: sortie_track's columns, in TrackPoint's order.
_TRACK_COLUMNS = (
    "sortie_id, at, vehicle_s, lat, lon, alt_amsl_m, alt_above_station_m, heading_deg,"
    " ground_speed_m_s, flight_mode, battery_pct, target_lat, target_lon"
)


def _hold_name(kind: HoldKind) -> str:
    return {HoldKind.EVIDENCE: "evidence hold", HoldKind.PUBLICATION: "publication hold"}[kind]


def _get_hold(c: Connection, kind: HoldKind, hold_id: int) -> HoldRecord:
    row = c.execute(f"SELECT * FROM {kind.table} WHERE id = ?", (hold_id,)).fetchone()
    return HoldRecord(kind, **dict(row))


def _active_hold(c: Connection, kind: HoldKind, sortie_id: int) -> HoldRecord | None:
    row = c.execute(
        f"SELECT * FROM {kind.table} WHERE sortie_id = ? AND lifted_at IS NULL", (sortie_id,)
    ).fetchone()
    return HoldRecord(kind, **dict(row)) if row is not None else None
