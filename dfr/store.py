"""The store: calls, drone reservations, sorties, video views, evidence and publication
holds and the audit log, in an SQLite file (WAL; the embedded default) or in PostgreSQL
(`postgresql://…`: one database several servers share), through `dfr.db_connection`.
The schema and its versioned migrations are in `dfr.store_schema`.

All SQL lives here, or in a store section: a module that keeps a table of its own
on this store's connection (`dfr.eta_store`), through `Store.run_section`, `transaction`
and `audit_in`. Every method runs on one worker thread that owns the
connection, so the event loop never blocks on the database. Several processes
may share one file (or database): reservations are single writing transactions
(`BEGIN IMMEDIATE`, or PostgreSQL's advisory write lock), so two dispatchers never get
the same drone.

Every audit entry carries its outcome: `accepted` (done), `refused` (dfr said no:
a rule, the vehicle, a throttle, a wrong password; `reason` is what the client was
told), `denied` (the caller may not do this, or came with a token that is not valid)
or `interrupted` (the server stopped in the middle). Entries written before dfr kept
outcomes have an empty one. The audit log is append-only; a video view is only ever
ended, once. A hold (evidence, or keeping a flight out of the public log) is placed
and lifted, each with who and why, and audited in the same transaction; it is never
deleted, and lifted once. Retention (`dfr.retention`) deletes a sortie's track points
and transfers, never the sortie, its events, its holds or the audit log.

Each audit entry is chained to the one before it by its hash (`dfr.audit_chain`),
computed in the transaction that writes it; entries of a file made before the chain are
chained when it is first opened, and an `audit.chained` entry says how many. A store
given a `CheckpointPolicy` signs the chain's head (`dfr.audit_signing`) when it opens,
every `every` entries and when it closes, into `audit_checkpoints` and the policy's
file. `dfr audit verify` (`dfr.audit_verify`) checks all of it, reading the file on its
own (the one SQL outside this module: it must not need the store to vouch for it).

Errors::

    StoreError              (Exception)
    ├── NotFound            no call/sortie with that id
    └── Conflict            the call is not in a state that allows this
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import astuple, dataclass, fields
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from dfr.audit_chain import GENESIS_HASH, entry_hash
from dfr.audit_signing import (
    INTERVAL,
    START,
    STOP,
    Checkpoint,
    CheckpointPolicy,
    PublicKey,
    append_checkpoints,
    read_checkpoints,
)
from dfr.db_connection import (
    Connection,
    DatabaseError,
    Dialect,
    begin_write,
    connect,
    describe,
    dialect_of,
    is_cursor,
    is_postgres,
    json_int_equals,
)
from dfr.store_schema import NewerSchema, migrate
from missions.geo import GeoPoint
from missions.sortie import FINAL_STATES

T = TypeVar("T")
log = logging.getLogger(__name__)

ACCEPTED, REFUSED, DENIED, INTERRUPTED = "accepted", "refused", "denied", "interrupted"

OPEN_CALL_STATES = ("new", "queued")
#: A sortie in these has its drone reserved but has not launched.
UNLAUNCHED_STATES = ("reserved", "awaiting_pilot")
#: A sortie in these is over (its drone released).
FINAL_SORTIE_STATES = tuple(sorted(str(state) for state in FINAL_STATES))


class StoreError(Exception):
    """Base of the store's errors."""


class NotFound(StoreError):
    """No record with that id."""


class Conflict(StoreError):
    """The record is not in a state that allows the change."""


class NotRetaskable(Conflict):
    """The sortie is no longer in the air: its drone cannot be re-tasked."""


class HoldKind(StrEnum):
    """What a hold on a sortie keeps: its record as evidence, or it out of the public log."""

    EVIDENCE = "evidence_hold"
    PUBLICATION = "publication_hold"

    @property
    def table(self) -> str:
        return {HoldKind.EVIDENCE: "evidence_holds", HoldKind.PUBLICATION: "publication_holds"}[
            self
        ]


@dataclass(frozen=True, slots=True)
class NewCall:
    latitude_deg: float
    longitude_deg: float
    priority: int = 1
    source: str = "manual"
    summary: str = ""
    external_id: str | None = None
    call_type: str | None = None
    purpose: str | None = None  # a launch without a call: why (dfr.purposes.LaunchPurpose)
    location_uncertainty_m: float | None = None  # the scene is within this of the point
    #: The sender's version of this call (UTC ISO 8601, to the microsecond), for senders
    #: that send the same call again as it changes (EIDO): see Store.take_call_version.
    source_updated_at: str | None = None
    confidence: float | None = None  # a gunshot sensor's, 0..1
    rounds: int | None = None  # the rounds a gunshot sensor counted
    requester: str | None = None  # the officer who asked for a drone ("drone to me")
    overwatch: bool = False  # kept watched, drone after drone, until closed (dfr.overwatch)
    agency: str | None = None  # whose call it is (dfr.agencies); None: the implicit agency


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: int
    created_at: str
    latitude_deg: float
    longitude_deg: float
    priority: int
    source: str
    summary: str
    external_id: str | None
    status: str
    call_type: str | None = None
    purpose: str | None = None
    location_uncertainty_m: float | None = None
    source_updated_at: str | None = None
    confidence: float | None = None
    rounds: int | None = None
    #: The launch policy that took the call, what came of it and why (dfr.auto_launch).
    policy: str | None = None
    policy_outcome: str | None = None
    policy_reason: str | None = None
    #: The officer who asked for a drone to come to them (dfr.officer_requests).
    requester: str | None = None
    #: Kept watched until closed: a relief drone launched before each one must leave.
    overwatch: bool = False
    #: The agency whose call it is (None: the implicit one), and the others it is shared
    #: with (they see it too: a mutual-aid drone's agency, the agency that reported it).
    agency: str | None = None
    shared_with: tuple[str, ...] = ()


class VersionOutcome(StrEnum):
    """What a version of a call from another system did (Store.take_call_version)."""

    CREATED = "created"  # the first: the call is stored
    UPDATED = "updated"  # later than the one stored: the call now says what it says
    UNCHANGED = "unchanged"  # the version stored, again: nothing changes
    STALE = "stale"  # earlier than the one stored: ignored


@dataclass(frozen=True, slots=True)
class CallVersion:
    """A version of a call taken: the call as it now is, and what changed."""

    call: CallRecord
    outcome: VersionOutcome
    before: CallRecord | None = None  # UPDATED: the call as it was
    moved_m: float | None = None  # UPDATED: how far its position moved


@dataclass(frozen=True, slots=True)
class SortieEvent:
    at: str
    state: str
    vehicle_s: float | None
    cause: str


@dataclass(frozen=True, slots=True)
class SortieRecord:
    id: int
    call_id: int | None
    drone_id: str
    station_id: str
    state: str
    created_at: str
    created_by: str
    eta_s: float | None
    route: dict
    launched_by: str | None = None
    launched_at: str | None = None
    policy: str | None = None  # the launch policy that sent it
    confirm_expires_at: str | None = None  # held for the pilot by a policy: until when
    relieves: int | None = None  # overwatch: the sortie on scene it takes over from
    events: tuple[SortieEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class Retasked:
    """A flying sortie moved to another call (`Store.retask`): the sortie and the call
    as they are now, and the call it served before with what it was, for an undo."""

    sortie: SortieRecord
    call: CallRecord
    previous: CallRecord | None
    previous_status: str | None
    previous_route: dict
    previous_eta_s: float | None


#: Sortie states (as stored) in which the drone is in the air and may be re-tasked.
RETASKABLE_STATES = ("en_route", "on_scene", "returning")


@dataclass(frozen=True, slots=True)
class ShareLinkRecord:
    id: str
    call_id: int
    issued_by: str
    issued_at: str
    revoked_at: str | None
    revoked_by: str | None
    call_status: str


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    subject: str
    details: dict
    outcome: str = ACCEPTED
    reason: str = ""
    prev_hash: str | None = None  # the chain (dfr.audit_chain); None: never chained
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class NewVideoView:
    """Someone starting to watch a drone's live video."""

    principal: str
    role: str
    share_link_id: str | None  # set when an officer watches through a share link
    stream_id: str  # the drone's id
    call_id: int | None  # the call the drone was serving, if any
    sortie_id: int | None  # and its sortie
    address: str  # the viewer's client address


@dataclass(frozen=True, slots=True)
class TrackPoint:
    """One sample of a sortie's flight. Altitudes: above mean sea level, and above the
    station (the drone's home); the camera target is the scene it is pointed at."""

    sortie_id: int
    at_utc: str
    vehicle_s: float | None
    latitude_deg: float
    longitude_deg: float
    alt_amsl_m: float
    alt_above_station_m: float
    heading_deg: float | None
    ground_speed_m_s: float | None
    flight_mode: str
    battery_pct: float | None
    target_latitude_deg: float | None
    target_longitude_deg: float | None


@dataclass(frozen=True, slots=True)
class HoldRecord:
    """A hold on a sortie: who placed it and why, and who lifted it and why (None while
    it holds)."""

    kind: HoldKind
    id: int
    sortie_id: int
    placed_by: str
    placed_at: str
    reason: str
    lifted_by: str | None
    lifted_at: str | None
    lift_reason: str | None

    @property
    def active(self) -> bool:
        return self.lifted_at is None


@dataclass(frozen=True, slots=True)
class FlightRecords:
    """How many track points and transfers (mission and fence) a sortie has, and when
    its last event was (ISO UTC): what retention deletes after `records_days`."""

    sortie_id: int
    last_event_at: str
    track_points: int
    transfers: int


@dataclass(frozen=True, slots=True)
class VideoViewRecord:
    id: int
    principal: str
    role: str
    share_link_id: str | None
    stream_id: str
    call_id: int | None
    sortie_id: int | None
    address: str
    started_at: str
    ended_at: str | None
    end_reason: str | None


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Store:
    """Async facade over one database: an SQLite file, or PostgreSQL for a
    `postgresql://` URL. Use `async with Store.open(path_or_url) as store:`; with
    `checkpoints`, the audit chain's head is signed as it grows."""

    def __init__(self, path: Path | str, checkpoints: CheckpointPolicy | None = None) -> None:
        self.path = str(path)  # an SQLite file, or a PostgreSQL URL
        self.dialect = Dialect.POSTGRESQL if is_postgres(self.path) else Dialect.SQLITE
        #: The schema version the database had when opened, and has now.
        self.schema_versions = (0, 0)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dfr-store")
        self._conn: Connection | None = None
        self._checkpoints = checkpoints
        self._signed_through = 0  # the audit entry the last checkpoint signed
        # The connection's total_changes at which the head may be due for a checkpoint:
        # each entry is at least one change, so the head is not looked at after every write.
        self._look_at_changes = 0
        self._exported_through = 0  # the last checkpoint (its id) copied to the policy's file

    @classmethod
    @asynccontextmanager
    async def open(
        cls, path: Path | str, checkpoints: CheckpointPolicy | None = None
    ) -> AsyncIterator[Store]:
        store = cls(path, checkpoints)
        await store.start()
        try:
            yield store
        finally:
            await store.close()

    async def start(self) -> None:
        await self._run(self._connect)

    async def close(self) -> None:
        """Sign the audit chain's head (with a checkpoint policy), close the connection and
        the worker; safe to call twice."""
        conn = self._conn
        if conn is not None:
            if self._checkpoints is not None:
                await self._run(lambda: self._try_checkpoint(conn, STOP))
            await self._run(conn.close)
            self._conn = None
        self._executor.shutdown(wait=True)

    # -- calls ------------------------------------------------------------------

    async def add_call(self, call: NewCall, actor: str) -> CallRecord:
        """Store a call (and audit it) before anyone acknowledges it."""

        def work(c: Connection) -> CallRecord:
            with _transaction(c):
                return _insert_call(c, call, actor)

        return await self._run_conn(work)

    async def add_external_call(self, call: NewCall, actor: str) -> tuple[CallRecord, bool]:
        """Store a call from another system once per (source, external_id): a retry of the
        same incident returns the call already stored. Returns (call, newly stored)."""
        if call.external_id is None:
            raise ValueError("an external call needs its external_id")

        def work(c: Connection) -> tuple[CallRecord, bool]:
            with _transaction(c):
                row = c.execute(
                    "SELECT id FROM calls WHERE source = ? AND external_id = ? ORDER BY id LIMIT 1",
                    (call.source, call.external_id),
                ).fetchone()
                if row is not None:
                    _audit(c, actor, "call.repeat", f"call:{row['id']}", {"id": call.external_id})
                    return _get_call(c, row["id"]), False
                return _insert_call(c, call, actor), True

        return await self._run_conn(work)

    async def take_call_version(self, call: NewCall, actor: str) -> CallVersion:
        """A version of a call from a system that sends each change of it again (an EIDO's
        incident), once per (source, external_id), ordered by `call.source_updated_at`:
        the first is stored as a new call; a later one updates the stored call's position,
        its uncertainty, priority, summary and type (not its status); the same version is
        a repeat, and an earlier one is ignored. Each is audited in its transaction."""
        if call.external_id is None or call.source_updated_at is None:
            raise ValueError("a call version needs its external_id and source_updated_at")

        def work(c: Connection) -> CallVersion:
            with _transaction(c):
                row = c.execute(
                    "SELECT id FROM calls WHERE source = ? AND external_id = ? ORDER BY id LIMIT 1",
                    (call.source, call.external_id),
                ).fetchone()
                if row is None:
                    return CallVersion(_insert_call(c, call, actor), VersionOutcome.CREATED)
                return _apply_version(c, _get_call(c, row["id"]), call, actor)

        return await self._run_conn(work)

    async def get_call(self, call_id: int) -> CallRecord:
        return await self._run_conn(lambda c: _get_call(c, call_id))

    async def list_calls(
        self, statuses: Iterable[str] | None = None, after_id: int = 0, limit: int = -1
    ) -> list[CallRecord]:
        """Calls by id after `after_id` (a cursor), at most `limit` (-1: all)."""
        wanted = tuple(statuses) if statuses else None

        def work(c: Connection) -> list[CallRecord]:
            where, args = "id > ?", [after_id]
            if wanted:
                where += f" AND status IN ({','.join('?' * len(wanted))})"
                args += wanted
            rows = c.execute(
                f"SELECT * FROM calls WHERE {where} ORDER BY id LIMIT ?", (*args, _at_most(limit))
            ).fetchall()
            return [_call(r) for r in rows]

        return await self._run_conn(work)

    async def share_call_with_agency(
        self, call_id: int, agency: str, actor: str, details: dict | None = None
    ) -> CallRecord:
        """Let `agency` see the call too (audited `call.share_agency` with both agencies);
        sharing it again changes nothing. Raises NotFound."""

        def work(c: Connection) -> CallRecord:
            with _transaction(c):
                call = _get_call(c, call_id)
                if agency == call.agency or agency in call.shared_with:
                    return call
                shared = json.dumps([*call.shared_with, agency])
                c.execute("UPDATE calls SET shared_with = ? WHERE id = ?", (shared, call_id))
                about = {**(details or {}), "agencies": [call.agency, agency]}
                _audit(c, actor, "call.share_agency", f"call:{call_id}", about)
            return _get_call(c, call_id)

        return await self._run_conn(work)

    async def queued_calls(self) -> list[CallRecord]:
        """Calls waiting for a drone, most urgent first (priority 1 first, then oldest)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT * FROM calls WHERE status = 'queued' ORDER BY priority, id"
            ).fetchall()
        )
        return [_call(r) for r in rows]

    async def set_call_status(self, call_id: int, status: str, actor: str) -> CallRecord:
        def work(c: Connection) -> CallRecord:
            with _transaction(c):
                if (
                    c.execute(
                        "UPDATE calls SET status = ? WHERE id = ?", (status, call_id)
                    ).rowcount
                    != 1
                ):
                    raise NotFound(f"no call {call_id}")
                _audit(c, actor, f"call.{status}", f"call:{call_id}", {})
            return _get_call(c, call_id)

        return await self._run_conn(work)

    # -- drones and sorties -----------------------------------------------------

    async def register_drones(self, drones: Iterable[tuple[str, str]]) -> None:
        """Make sure each (drone_id, station_id) has a row; existing rows keep their sortie."""
        items = list(drones)

        def work(c: Connection) -> None:
            with _transaction(c):
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
            with _transaction(c):
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
                _audit(c, actor, "sortie.dispatch", f"sortie:{sortie_id}", details)
            return _get_sortie(c, sortie_id)

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
            with _transaction(c):
                relieved = _get_sortie(c, relieves)
                if relieved.call_id is None or relieved.state in FINAL_SORTIE_STATES:
                    raise Conflict(f"sortie {relieves} serves no call any more")
                call = _get_call(c, relieved.call_id)
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
                _audit(c, actor, "sortie.relief", f"sortie:{sortie_id}", details)
            return _get_sortie(c, sortie_id)

        return await self._run_conn(work)

    async def set_call_overwatch(self, call_id: int, overwatch: bool, actor: str) -> CallRecord:
        """Keep a call under overwatch (or stop). Raises NotFound, and Conflict for a
        closed call."""

        def work(c: Connection) -> CallRecord:
            with _transaction(c):
                call = _get_call(c, call_id)
                if call.status == "closed":
                    raise Conflict(f"call {call_id} is closed")
                c.execute("UPDATE calls SET overwatch = ? WHERE id = ?", (int(overwatch), call_id))
                _audit(c, actor, "call.overwatch", f"call:{call_id}", {"overwatch": overwatch})
                return _get_call(c, call_id)

        return await self._run_conn(work)

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
            with _transaction(c):
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
            with _transaction(c):
                call = _get_call(c, call_id)
                if call.status not in OPEN_CALL_STATES:
                    raise Conflict(f"call {call_id} is {call.status}")
                sortie = _get_sortie(c, sortie_id)
                if sortie.state not in RETASKABLE_STATES:
                    raise NotRetaskable(f"sortie {sortie_id} is {sortie.state}")
                if sortie.call_id != from_call_id:
                    raise NotRetaskable(f"sortie {sortie_id} now serves call {sortie.call_id}")
                previous = None if sortie.call_id is None else _get_call(c, sortie.call_id)
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
                        _audit(c, actor, "call.new", f"call:{previous.id}", details)
                c.execute(
                    "INSERT INTO sortie_events (sortie_id, at, state, cause) VALUES (?, ?, ?, ?)",
                    (sortie_id, utc_now(), sortie.state, why),
                )
                _audit(
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
                    _get_sortie(c, sortie_id),
                    _get_call(c, call_id),
                    None if previous is None else _get_call(c, previous.id),
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
            with _transaction(c):
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
                _audit(c, actor, "sortie.retask_undone", f"sortie:{sortie_id}", details)

        await self._run_conn(work)

    async def record_sortie_route(self, sortie_id: int, route: dict) -> None:
        """The route a sortie flies now (GeoJSON, `Route.as_geojson()`): replaced when the
        drone is sent to a new target in flight; what a restart follows the drone by."""

        def work(c: Connection) -> None:
            with _transaction(c):
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
            with _transaction(c):
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
            return _get_sortie(c, sortie_id)

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
            with _transaction(c):
                sortie = _get_sortie(c, sortie_id)
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
                _audit(c, actor, "sortie.release", f"sortie:{sortie_id}", details)
                if sortie.call_id is None:
                    return None
                call = _get_call(c, sortie.call_id)
                if call.status == "dispatched":
                    c.execute("UPDATE calls SET status = 'new' WHERE id = ?", (call.id,))
                    _audit(c, actor, "call.new", f"call:{call.id}", {"sortie_id": sortie_id})
                if policy_outcome is not None:
                    _set_policy(c, call.id, sortie.policy, policy_outcome, cause, actor)
                return _get_call(c, call.id)

        return await self._run_conn(work)

    async def set_call_policy(
        self,
        call_id: int,
        policy: str | None,
        outcome: str,
        reason: str,
        actor: str,
        audit_outcome: str = ACCEPTED,
        reopen: bool = False,
    ) -> CallRecord:
        """Record on the call what the launch policies did with it (`policy`: the one that
        took it, None when none did), audited as `call.policy` with `audit_outcome`;
        `reopen`: a dispatched call is open ("new") again, in the same transaction."""

        def work(c: Connection) -> CallRecord:
            with _transaction(c):
                call = _get_call(c, call_id)
                if reopen and call.status == "dispatched":
                    c.execute("UPDATE calls SET status = 'new' WHERE id = ?", (call_id,))
                    _audit(c, actor, "call.new", f"call:{call_id}", {})
                _set_policy(c, call_id, policy, outcome, reason, actor, audit_outcome)
            return _get_call(c, call_id)

        return await self._run_conn(work)

    async def mark_launched(self, sortie_id: int, actor: str) -> SortieRecord:
        """Record who launched a reserved sortie, and when (the audit log has it too)."""

        def work(c: Connection) -> SortieRecord:
            now = utc_now()
            with _transaction(c):
                updated = c.execute(
                    "UPDATE sorties SET launched_by = ?, launched_at = ? WHERE id = ?",
                    (actor, now, sortie_id),
                )
                if updated.rowcount != 1:
                    raise NotFound(f"no sortie {sortie_id}")
                _audit(c, actor, "sortie.launch", f"sortie:{sortie_id}", {})
            return _get_sortie(c, sortie_id)

        return await self._run_conn(work)

    async def release(self, sortie_id: int, final_state: str, actor: str, cause: str = "") -> None:
        """End a sortie and free its drone for the next call."""

        def work(c: Connection) -> None:
            with _transaction(c):
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
                _audit(
                    c,
                    actor,
                    "sortie.release",
                    f"sortie:{sortie_id}",
                    {"drone_id": row["drone_id"], "state": final_state, "cause": cause},
                )

        await self._run_conn(work)

    async def get_sortie(self, sortie_id: int) -> SortieRecord:
        return await self._run_conn(lambda c: _get_sortie(c, sortie_id))

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
                (after_id, *skip, _at_most(limit)),
            ).fetchall()
            return [_get_sortie(c, r["id"]) for r in rows]

        return await self._run_conn(work)

    async def latest_call_requested_by(self, requester: str) -> CallRecord | None:
        """The last call `requester` (an officer) asked for, or None."""

        def work(c: Connection) -> CallRecord | None:
            row = c.execute(
                "SELECT * FROM calls WHERE requester = ? ORDER BY id DESC LIMIT 1", (requester,)
            ).fetchone()
            return _call(row) if row is not None else None

        return await self._run_conn(work)

    async def latest_sortie_for_call(self, call_id: int) -> SortieRecord | None:
        def work(c: Connection) -> SortieRecord | None:
            row = c.execute(
                "SELECT id FROM sorties WHERE call_id = ? ORDER BY id DESC LIMIT 1", (call_id,)
            ).fetchone()
            return _get_sortie(c, row["id"]) if row is not None else None

        return await self._run_conn(work)

    # -- audit ------------------------------------------------------------------

    async def audit(
        self,
        actor: str,
        action: str,
        subject: str = "",
        details: dict | None = None,
        outcome: str = ACCEPTED,
        reason: str = "",
    ) -> None:
        def work(c: Connection) -> None:
            with _transaction(c):
                _audit(c, actor, action, subject, details or {}, outcome, reason)

        await self._run_conn(work)

    @asynccontextmanager
    async def attempt(
        self,
        actor: str,
        action: str,
        subject: str = "",
        details: dict | None = None,
        *,
        audit_accepted: bool = True,
    ) -> AsyncIterator[dict[str, Any]]:
        """Audit one attempt when the block ends: accepted, with `details` and what the
        block added to the dict it is given; refused, with the error's message (what the
        client is told), when the block raises; interrupted when it is cancelled.

        `audit_accepted=False` for a change the store audits in the transaction that
        makes it: then only a refusal is written here.
        """
        noted = dict(details or {})
        try:
            yield noted
        except asyncio.CancelledError:
            # A command may have reached the vehicle already: say so, even while the
            # server stops (the store may be closing too).
            with contextlib.suppress(StoreError):
                why = "cancelled before it finished (the server stopped?)"
                await asyncio.shield(self.audit(actor, action, subject, noted, INTERRUPTED, why))
            raise
        except Exception as exc:
            await self.audit(actor, action, subject, noted, REFUSED, refusal_reason(exc))
            raise
        if audit_accepted:
            await self.audit(actor, action, subject, noted, ACCEPTED)

    # -- access -----------------------------------------------------------------

    async def add_share_link(self, link_id: str, call_id: int, issued_by: str) -> None:
        def work(c: Connection) -> None:
            with _transaction(c):
                _get_call(c, call_id)  # raises NotFound
                c.execute(
                    "INSERT INTO share_links (id, call_id, issued_by, issued_at) VALUES (?,?,?,?)",
                    (link_id, call_id, issued_by, utc_now()),
                )
                _audit(c, issued_by, "call.share", f"call:{call_id}", {"link": link_id})

        await self._run_conn(work)

    async def share_links(
        self, call_id: int | None = None, link_id: str | None = None
    ) -> list[ShareLinkRecord]:
        """Share links (of one call, or the one with `link_id`), with their call's status."""
        where, args = (
            ("l.id = ?", (link_id,)) if link_id is not None else ("l.call_id = ?", (call_id,))
        )
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT l.*, c.status AS call_status FROM share_links l"
                f" JOIN calls c ON c.id = l.call_id WHERE {where} ORDER BY l.issued_at",
                args,
            ).fetchall()
        )
        return [ShareLinkRecord(**dict(r)) for r in rows]

    async def revoke_share_link(self, link_id: str, actor: str) -> ShareLinkRecord:
        def work(c: Connection) -> None:
            with _transaction(c):
                done = c.execute(
                    "UPDATE share_links SET revoked_at = ?, revoked_by = ?"
                    " WHERE id = ? AND revoked_at IS NULL",
                    (utc_now(), actor, link_id),
                )
                if done.rowcount == 1:
                    _audit(c, actor, "share_link.revoke", f"share_link:{link_id}", {})

        await self._run_conn(work)
        found = await self.share_links(link_id=link_id)
        if not found:
            raise NotFound(f"no share link {link_id!r}")
        return found[0]

    async def revoke_session(self, session_id: str, actor: str) -> None:
        def work(c: Connection) -> None:
            with _transaction(c):
                c.execute(
                    "INSERT INTO revoked_sessions (session_id, at) VALUES (?, ?)"
                    " ON CONFLICT (session_id) DO NOTHING",
                    (session_id, utc_now()),
                )
                _audit(c, actor, "logout", "", {})

        await self._run_conn(work)

    async def revoked_sessions(self) -> set[str]:
        rows = await self._run_conn(
            lambda c: c.execute("SELECT session_id FROM revoked_sessions").fetchall()
        )
        return {r["session_id"] for r in rows}

    async def audit_log(self, limit: int = 500, after_id: int = 0) -> list[AuditEntry]:
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after_id, _at_most(limit))
            ).fetchall()
        )
        return [AuditEntry(**{**dict(r), "details": json.loads(r["details"])}) for r in rows]

    async def audit_about(self, call_id: int | None, sortie_id: int) -> list[AuditEntry]:
        """The entries about a sortie and its call, in order: by subject, or naming them
        in their details."""

        def work(c: Connection) -> list[Any]:
            where = f"subject IN (?, ?) OR {json_int_equals(c, 'details', 'sortie_id')}"
            args: list[Any] = [f"sortie:{sortie_id}", f"call:{call_id}", sortie_id]
            if call_id is not None:
                where += f" OR {json_int_equals(c, 'details', 'call_id')}"
                args.append(call_id)
            return c.execute(f"SELECT * FROM audit WHERE {where} ORDER BY id", args).fetchall()

        rows = await self._run_conn(work)
        return [AuditEntry(**{**dict(r), "details": json.loads(r["details"])}) for r in rows]

    async def audit_checkpoints(
        self, after_id: int = 0, limit: int = -1
    ) -> list[tuple[int, Checkpoint]]:
        """Signed checkpoints of the audit chain with their number, in the order they were
        written, after number `after_id` (a cursor), at most `limit` (-1: all)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE id > ?"
                " ORDER BY id LIMIT ?",
                (after_id, _at_most(limit)),
            ).fetchall()
        )
        return [(r["id"], Checkpoint(*tuple(r)[1:])) for r in rows]

    async def latest_audit_checkpoint(self) -> dict[str, Any] | None:
        """The last signed checkpoint of the audit chain, as JSON (None: none yet)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
            ).fetchall()
        )
        return Checkpoint(*tuple(rows[0])[1:]).as_json() if rows else None

    @property
    def audit_public_key(self) -> PublicKey | None:
        """The key the audit checkpoints are checked with (None: no checkpoints)."""
        return self._checkpoints.key.public if self._checkpoints is not None else None

    # -- video views --------------------------------------------------------------

    async def start_video_view(self, view: NewVideoView) -> VideoViewRecord:
        """Record that someone started watching (and audit it, in one transaction)."""

        def work(c: Connection) -> VideoViewRecord:
            with _transaction(c):
                cur = c.execute(
                    "INSERT INTO video_views (principal, role, share_link_id, stream_id,"
                    " call_id, sortie_id, address, started_at) VALUES (?,?,?,?,?,?,?,?)"
                    " RETURNING id",
                    (
                        view.principal,
                        view.role,
                        view.share_link_id,
                        view.stream_id,
                        view.call_id,
                        view.sortie_id,
                        view.address,
                        utc_now(),
                    ),
                )
                view_id = int(cur.fetchall()[0][0])
                details = {
                    "view_id": view_id,
                    "call_id": view.call_id,
                    "sortie_id": view.sortie_id,
                    "address": view.address,
                    "share_link_id": view.share_link_id,
                }
                _audit(c, view.principal, "video.view.start", f"stream:{view.stream_id}", details)
                return _get_video_view(c, view_id)

        return await self._run_conn(work)

    async def end_video_view(self, view_id: int, reason: str) -> VideoViewRecord | None:
        """Record that a view ended, and why; None when it had ended already."""

        def work(c: Connection) -> VideoViewRecord | None:
            with _transaction(c):
                return _end_video_view(c, view_id, utc_now(), reason)

        return await self._run_conn(work)

    async def end_open_video_views(self, reason: str) -> list[VideoViewRecord]:
        """End every view still open (those a stopped server could not end), now."""

        def work(c: Connection) -> list[VideoViewRecord]:
            now = utc_now()
            with _transaction(c):
                rows = c.execute("SELECT id FROM video_views WHERE ended_at IS NULL").fetchall()
                ended = [_end_video_view(c, r["id"], now, reason) for r in rows]
            return [v for v in ended if v is not None]

        return await self._run_conn(work)

    async def video_views(self, after_id: int = 0, limit: int = -1) -> list[VideoViewRecord]:
        """Video views by id after `after_id` (a cursor), at most `limit` (-1: all)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT * FROM video_views WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, _at_most(limit)),
            ).fetchall()
        )
        return [VideoViewRecord(**dict(r)) for r in rows]

    async def video_views_of_sortie(
        self, sortie_id: int, final_states: Iterable[str], after_id: int = 0, limit: int = -1
    ) -> list[VideoViewRecord]:
        """Who watched the sortie's drone while the sortie lasted (from its reservation to
        its first event in one of `final_states`), or started watching for it; by id
        after `after_id`, at most `limit` (-1: all)."""
        return await self._views_during("id", sortie_id, tuple(final_states), after_id, limit)

    async def video_views_of_call(
        self, call_id: int, final_states: Iterable[str], after_id: int = 0, limit: int = -1
    ) -> list[VideoViewRecord]:
        """Who watched a drone while one of the call's sorties lasted, or for the call."""
        return await self._views_during("call_id", call_id, tuple(final_states), after_id, limit)

    async def _views_during(
        self, column: str, value: int, final_states: tuple[str, ...], after_id: int, limit: int
    ) -> list[VideoViewRecord]:
        own = "sortie_id" if column == "id" else "call_id"
        finals = ",".join("?" * len(final_states)) or "NULL"
        # ISO times in UTC with milliseconds, all written by utc_now(): they sort as text.
        sql = (
            "WITH s AS (SELECT drone_id, created_at, (SELECT MIN(e.at) FROM sortie_events e"
            f" WHERE e.sortie_id = sorties.id AND e.state IN ({finals})) AS ended_at"
            f" FROM sorties WHERE {column} = ?)"
            f" SELECT v.* FROM video_views v WHERE v.id > ? AND (v.{own} = ? OR EXISTS"
            " (SELECT 1 FROM s WHERE v.stream_id = s.drone_id"
            " AND (s.ended_at IS NULL OR v.started_at < s.ended_at)"
            " AND (v.ended_at IS NULL OR v.ended_at > s.created_at))) ORDER BY v.id LIMIT ?"
        )
        args = (*final_states, value, after_id, value, _at_most(limit))
        rows = await self._run_conn(lambda c: c.execute(sql, args).fetchall())
        return [VideoViewRecord(**dict(r)) for r in rows]

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
            with _transaction(c):
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
            with _transaction(c):
                _get_sortie(c, sortie_id)
                if _active_hold(c, kind, sortie_id) is not None:
                    raise Conflict(f"sortie {sortie_id} has a {_hold_name(kind)} already")
                cur = c.execute(
                    f"INSERT INTO {kind.table} (sortie_id, placed_by, placed_at, reason)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (sortie_id, actor, utc_now(), reason),
                )
                hold_id = int(cur.fetchall()[0][0])
                details = {"hold_id": hold_id, "reason": reason}
                _audit(c, actor, f"{kind}.place", f"sortie:{sortie_id}", details)
                return _get_hold(c, kind, hold_id)

        return await self._run_conn(work)

    async def lift_hold(
        self, kind: HoldKind, sortie_id: int, actor: str, reason: str
    ) -> HoldRecord:
        """Lift the sortie's hold of this kind (audited with who and why). Raises
        NotFound for no such sortie, Conflict when none holds it."""

        def work(c: Connection) -> HoldRecord:
            with _transaction(c):
                _get_sortie(c, sortie_id)
                hold = _active_hold(c, kind, sortie_id)
                if hold is None:
                    raise Conflict(f"sortie {sortie_id} has no {_hold_name(kind)} to lift")
                c.execute(
                    f"UPDATE {kind.table} SET lifted_by = ?, lifted_at = ?, lift_reason = ?"
                    " WHERE id = ?",
                    (actor, utc_now(), reason, hold.id),
                )
                details = {"hold_id": hold.id, "reason": reason}
                _audit(c, actor, f"{kind}.lift", f"sortie:{sortie_id}", details)
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
            with _transaction(c):
                sortie = _get_sortie(c, sortie_id)
                if _active_hold(c, HoldKind.EVIDENCE, sortie_id) is not None:
                    return None
                points = c.execute("DELETE FROM sortie_track WHERE sortie_id = ?", (sortie_id,))
                sent = c.execute("DELETE FROM sortie_transfers WHERE sortie_id = ?", (sortie_id,))
                last_at = sortie.events[-1].at if sortie.events else sortie.created_at
                deleted = FlightRecords(sortie_id, last_at, points.rowcount, sent.rowcount)
                counts = {"track_points": deleted.track_points, "transfers": deleted.transfers}
                _audit(c, actor, "retention.delete", f"sortie:{sortie_id}", {**details, **counts})
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
                sortie = _get_sortie(c, r["id"])
                call = _get_call(c, sortie.call_id) if sortie.call_id is not None else None
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

    # -- sections ---------------------------------------------------------------

    async def run_section(self, work: Callable[[Connection], T]) -> T:
        """Run `work` with the connection on the store's thread, as the store's own methods
        run: for a store section. `work` writes inside `transaction(c)` and audits there
        with `audit_in`. Raises StoreError when the store is not open."""
        return await self._run_conn(work)

    # -- plumbing ---------------------------------------------------------------

    def _connect(self) -> None:
        conn = connect(self.path)
        try:
            self.schema_versions = migrate(conn, utc_now())
            _chain_unchained_entries(conn)
        except NewerSchema as exc:
            conn.close()
            raise StoreError(f"{describe(self.path)}: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        if self._checkpoints is not None:
            row = conn.execute("SELECT MAX(entry_id) FROM audit_checkpoints").fetchone()
            self._signed_through = row[0] or 0
            if self._checkpoints.file is not None:
                self._exported_through = _copy_missing_checkpoints(conn, self._checkpoints.file)
            self._checkpoint(conn, START)
        self._conn = conn

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def _run_conn(self, fn: Callable[[Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError("store is not open")
        work = _no_cursor_escapes(fn)
        if self._checkpoints is None:
            return await self._run(lambda: work(conn))
        return await self._run(lambda: self._then_checkpoint(work, conn))

    def _then_checkpoint(self, fn: Callable[[Connection], T], c: Connection) -> T:
        result = fn(c)
        if c.total_changes >= self._look_at_changes:
            self._try_checkpoint(c, INTERVAL)
        return result

    def _try_checkpoint(self, c: Connection, kind: str) -> None:
        # What came before is committed and stands: a checkpoint that cannot be written
        # now is written later (the next one signs everything before it too).
        try:
            self._checkpoint(c, kind)
        except (*DatabaseError, OSError):
            log.exception("could not write an audit checkpoint (%s)", kind)

    def _checkpoint(self, c: Connection, kind: str) -> None:
        """Sign the chain's head: at start and stop always (when there is a head), else
        once it is `every` entries past the last one signed. Then copy the checkpoints
        the policy's file lacks into it (those a failed write left out too)."""
        policy = self._checkpoints
        assert policy is not None
        head = c.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
        behind = head["id"] - self._signed_through if head is not None else 0
        due = head is not None and (kind != INTERVAL or behind >= policy.every)
        if not due or head["hash"] is None:
            self._look_at_changes = c.total_changes + max(1, policy.every - behind)
            return
        signed = policy.key.sign(head["id"], head["hash"], utc_now(), kind)
        with _transaction(c):
            c.execute(
                "INSERT INTO audit_checkpoints (entry_id, head_hash, at, kind, key_id, signature)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                astuple(signed),
            )
        self._signed_through = max(self._signed_through, head["id"])
        self._look_at_changes = c.total_changes + policy.every
        if policy.file is not None:
            rows = c.execute(
                f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE id > ? ORDER BY id",
                (self._exported_through,),
            ).fetchall()
            if rows:
                append_checkpoints(policy.file, [Checkpoint(*tuple(r)[1:]) for r in rows])
                self._exported_through = rows[-1]["id"]


def _no_cursor_escapes(
    fn: Callable[[Connection], T],
) -> Callable[[Connection], T]:
    """`fn`, closing a cursor it returns on the store's thread: a cursor let out to the
    event loop is finalised there when it is dropped, while the store's thread may be
    using the connection (SQLite answered "bad parameter or other API misuse")."""

    def work(c: Connection) -> T:
        result: Any = fn(c)
        if is_cursor(result):
            result.close()
            return None  # type: ignore[return-value]
        return result

    return work


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error (autocommit connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        begin_write(self.conn)
        return self.conn

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")


def transaction(conn: Connection) -> _transaction:
    """BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error: for a store section's writes."""
    return _transaction(conn)


def audit_in(
    c: Connection,
    actor: str,
    action: str,
    subject: str,
    details: dict,
    outcome: str = ACCEPTED,
    reason: str = "",
) -> None:
    """Append an audit entry in the caller's transaction: for a store section whose change
    is audited with it."""
    _audit(c, actor, action, subject, details, outcome, reason)


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


def _insert_call(c: Connection, call: NewCall, actor: str) -> CallRecord:
    cur = c.execute(
        "INSERT INTO calls (created_at, latitude_deg, longitude_deg, priority, source,"
        " summary, external_id, call_type, purpose, location_uncertainty_m,"
        " source_updated_at, confidence, rounds, requester, overwatch, agency)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            utc_now(),
            call.latitude_deg,
            call.longitude_deg,
            call.priority,
            call.source,
            call.summary,
            call.external_id,
            call.call_type,
            call.purpose,
            call.location_uncertainty_m,
            call.source_updated_at,
            call.confidence,
            call.rounds,
            call.requester,
            int(call.overwatch),
            call.agency,
        ),
    )
    call_id = int(cur.fetchall()[0][0])
    details = {
        "lat": call.latitude_deg,
        "lon": call.longitude_deg,
        "priority": call.priority,
        "source": call.source,
    }
    if call.call_type is not None:
        details["call_type"] = call.call_type
    if call.purpose is not None:
        details["purpose"] = call.purpose
    if call.location_uncertainty_m is not None:
        details["uncertainty_m"] = call.location_uncertainty_m
    if call.source_updated_at is not None:
        details["version"] = call.source_updated_at
    if call.confidence is not None:
        details["confidence"] = call.confidence
    if call.rounds is not None:
        details["rounds"] = call.rounds
    if call.requester is not None:
        details["requester"] = call.requester
    if call.overwatch:
        details["overwatch"] = True
    if call.agency is not None:
        details["agency"] = call.agency
    _audit(c, actor, "call.create", f"call:{call_id}", details)
    return _get_call(c, call_id)


def _apply_version(c: Connection, stored: CallRecord, call: NewCall, actor: str) -> CallVersion:
    """Take `call` as a version of `stored` (see Store.take_call_version)."""
    subject = f"call:{stored.id}"
    seen = {"id": call.external_id, "version": call.source_updated_at}
    known = stored.source_updated_at or ""
    assert call.source_updated_at is not None
    if call.source_updated_at == known:
        _audit(c, actor, "call.repeat", subject, seen)
        return CallVersion(stored, VersionOutcome.UNCHANGED)
    if call.source_updated_at < known:
        why = f"version {call.source_updated_at} is older than the one stored ({known})"
        _audit(c, actor, "call.update", subject, seen, REFUSED, why)
        return CallVersion(stored, VersionOutcome.STALE)
    c.execute(
        "UPDATE calls SET latitude_deg = ?, longitude_deg = ?, location_uncertainty_m = ?,"
        " priority = ?, summary = ?, call_type = ?, source_updated_at = ? WHERE id = ?",
        (
            call.latitude_deg,
            call.longitude_deg,
            call.location_uncertainty_m,
            call.priority,
            call.summary,
            call.call_type,
            call.source_updated_at,
            stored.id,
        ),
    )
    moved_m = GeoPoint(stored.latitude_deg, stored.longitude_deg).distance_m(
        GeoPoint(call.latitude_deg, call.longitude_deg)
    )
    changes = {
        name: {"from": getattr(stored, name), "to": getattr(call, name)}
        for name in (
            "latitude_deg",
            "longitude_deg",
            "location_uncertainty_m",
            "priority",
            "summary",
            "call_type",
        )
        if getattr(stored, name) != getattr(call, name)
    }
    details: dict[str, Any] = {**seen, "previous_version": stored.source_updated_at}
    details.update(changes=changes, moved_m=round(moved_m, 1))
    _audit(c, actor, "call.update", subject, details)
    return CallVersion(_get_call(c, stored.id), VersionOutcome.UPDATED, stored, moved_m)


def _set_policy(
    c: Connection,
    call_id: int,
    policy: str | None,
    outcome: str,
    reason: str,
    actor: str,
    audit_outcome: str = ACCEPTED,
) -> None:
    c.execute(
        "UPDATE calls SET policy = ?, policy_outcome = ?, policy_reason = ? WHERE id = ?",
        (policy, outcome, reason, call_id),
    )
    why = reason if audit_outcome != ACCEPTED else ""
    details = {"policy": policy, "outcome": outcome, "reason": reason}
    _audit(c, actor, "call.policy", f"call:{call_id}", details, audit_outcome, why)


def refusal_reason(exc: BaseException) -> str:
    """What a refused attempt is audited with: the message the client gets."""
    return str(exc) or type(exc).__name__


_TRACK_FIELDS = fields(TrackPoint)
#: sortie_track's columns, in TrackPoint's order.
_TRACK_COLUMNS = (
    "sortie_id, at, vehicle_s, lat, lon, alt_amsl_m, alt_above_station_m, heading_deg,"
    " ground_speed_m_s, flight_mode, battery_pct, target_lat, target_lon"
)


def _at_most(limit: int) -> int:
    """A LIMIT for `limit` rows, -1 for all (PostgreSQL takes no negative LIMIT)."""
    return limit if limit >= 0 else 2**62


def _audit(
    c: Connection,
    actor: str,
    action: str,
    subject: str,
    details: dict,
    outcome: str = ACCEPTED,
    reason: str = "",
) -> None:
    """Append an entry, chained to the last one; only inside a transaction, which holds
    the write lock: no other writer (thread or process) can chain to the same entry.
    The id follows the highest ever given (sqlite_sequence), as AUTOINCREMENT would."""
    last_id, prev_hash = c.execute(_AUDIT_HEAD[dialect_of(c)]).fetchone()
    entry = (
        (last_id or 0) + 1,
        utc_now(),
        actor,
        action,
        subject,
        json.dumps(details, sort_keys=True),
        outcome,
        reason,
        prev_hash or GENESIS_HASH,
    )
    c.execute(_AUDIT_INSERT, (*entry, entry_hash(*entry)))


_AUDIT_HEAD = {
    Dialect.SQLITE: "SELECT (SELECT seq FROM sqlite_sequence WHERE name = 'audit'),"
    " (SELECT hash FROM audit ORDER BY id DESC LIMIT 1)",
    # Entries are never deleted (a trigger refuses it): the highest id is the last given.
    Dialect.POSTGRESQL: "SELECT (SELECT MAX(id) FROM audit),"
    " (SELECT hash FROM audit ORDER BY id DESC LIMIT 1)",
}
_AUDIT_INSERT = (
    "INSERT INTO audit (id, at, actor, action, subject, details, outcome, reason, prev_hash,"
    " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHECKPOINT_COLUMNS = "id, entry_id, head_hash, at, kind, key_id, signature"


def _chain_unchained_entries(c: Connection) -> None:
    """Chain the entries of a file written before the chain existed, once: when no entry
    has a hash yet and nothing was ever signed. Entries without one in a chained log are
    left as they are, for `dfr audit verify` to report: chaining them would vouch for
    rows nobody can vouch for."""
    with _transaction(c):
        if c.execute(
            "SELECT EXISTS (SELECT 1 FROM audit WHERE hash IS NOT NULL)"
            " OR EXISTS (SELECT 1 FROM audit_checkpoints)"
        ).fetchone()[0]:
            return
        rows = c.execute(
            "SELECT id, at, actor, action, subject, details, outcome, reason FROM audit ORDER BY id"
        ).fetchall()
        if not rows:
            return
        # The append-only trigger comes back as it was, in the same transaction.
        postgres = dialect_of(c) is Dialect.POSTGRESQL
        if postgres:
            c.execute("ALTER TABLE audit DISABLE TRIGGER audit_no_update")
        else:
            (trigger,) = c.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_no_update'"
            ).fetchone()
            c.execute("DROP TRIGGER audit_no_update")
        prev_hash = GENESIS_HASH
        chained = []
        for r in rows:
            digest = entry_hash(*tuple(r), prev_hash)
            chained.append((prev_hash, digest, r["id"]))
            prev_hash = digest
        c.executemany("UPDATE audit SET prev_hash = ?, hash = ? WHERE id = ?", chained)
        c.execute("ALTER TABLE audit ENABLE TRIGGER audit_no_update" if postgres else trigger)
        ids = [r["id"] for r in rows]
        details = {
            "entries": len(rows),
            "first_id": ids[0],
            "last_id": ids[-1],
            "missing_ids": _missing_ranges(ids),
        }
        _audit(c, "system", "audit.chained", "", details)


def _missing_ranges(ids: list[int]) -> list[list[int]]:
    """[first, last] of each run of ids absent from 1..max(ids) (ids ascending)."""
    missing, expected = [], 1
    for i in ids:
        if i > expected:
            missing.append([expected, i - 1])
        expected = i + 1
    return missing


def _copy_missing_checkpoints(c: Connection, path: Path) -> int:
    """Append to the checkpoints file those of the database it lacks (all of them to a new
    or lost file); returns the id of the database's last checkpoint. Lines that are not
    checkpoints are left as they are, for the verifier to report."""
    have: set[str] = set()
    if path.exists():
        found, _ = read_checkpoints(path)
        have = {cp.signature for cp in found}
    rows = c.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id").fetchall()
    missing = [cp for cp in (Checkpoint(*tuple(r)[1:]) for r in rows) if cp.signature not in have]
    if missing:
        append_checkpoints(path, missing)
    return rows[-1]["id"] if rows else 0


def _get_video_view(c: Connection, view_id: int) -> VideoViewRecord:
    row = c.execute("SELECT * FROM video_views WHERE id = ?", (view_id,)).fetchone()
    if row is None:
        raise NotFound(f"no video view {view_id}")
    return VideoViewRecord(**dict(row))


def _end_video_view(c: Connection, view_id: int, at: str, reason: str) -> VideoViewRecord | None:
    ended = c.execute(
        "UPDATE video_views SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
        (at, reason, view_id),
    )
    if ended.rowcount != 1:
        return None
    view = _get_video_view(c, view_id)
    details = {"view_id": view_id, "started_at": view.started_at, "reason": reason}
    _audit(c, view.principal, "video.view.end", f"stream:{view.stream_id}", details)
    return view


def _get_call(c: Connection, call_id: int) -> CallRecord:
    row = c.execute("SELECT * FROM calls WHERE id = ?", (call_id,)).fetchone()
    if row is None:
        raise NotFound(f"no call {call_id}")
    return _call(row)


def _call(row: Any) -> CallRecord:
    data = dict(row)
    data["overwatch"] = bool(data["overwatch"])
    data["shared_with"] = tuple(json.loads(data["shared_with"] or "[]"))
    return CallRecord(**data)


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


def _get_sortie(c: Connection, sortie_id: int) -> SortieRecord:
    row = c.execute("SELECT * FROM sorties WHERE id = ?", (sortie_id,)).fetchone()
    if row is None:
        raise NotFound(f"no sortie {sortie_id}")
    events = tuple(
        SortieEvent(at=e["at"], state=e["state"], vehicle_s=e["vehicle_s"], cause=e["cause"])
        for e in c.execute(
            "SELECT * FROM sortie_events WHERE sortie_id = ? ORDER BY id", (sortie_id,)
        ).fetchall()
    )
    data = dict(row)
    data["route"] = json.loads(data["route"])
    return SortieRecord(**data, events=events)
