"""The store: calls, drone reservations, sorties, video views, evidence and publication
holds and the audit log, in an SQLite file (WAL; the embedded default) or in PostgreSQL
(`postgresql://…`: one database several servers share), through `dfr.db_connection`.
The schema and its versioned migrations are in `dfr.store_schema`.

`Store` is made of one part per family of tables, each a module on a common base
(`dfr.store_base`: the connection, its worker thread, the audit checkpoints):
`dfr.store_calls`, `dfr.store_drones` (reservations), `dfr.store_sorties`,
`dfr.store_audit`, `dfr.store_access` (share links, sessions), `dfr.store_video_views`
and `dfr.store_flight_records` (transfers, tracks, holds, retention, the public log).
The records and errors they share are in `dfr.store_records`, the audit append and its
chain in `dfr.store_audit_chain`. Everything other code needs is imported from here.

All SQL lives in those modules, or in a store section: a module that keeps a table of
its own on this store's connection (`dfr.eta_store`), through `Store.run_section`,
`transaction` and `audit_in`. Every method runs on one worker thread that owns the
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
own (the one SQL outside the store's modules: it must not need the store to vouch for it).

Errors::

    StoreError              (Exception)
    ├── NotFound            no call/sortie with that id
    └── Conflict            the call is not in a state that allows this
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from dfr.audit_signing import CheckpointPolicy
from dfr.store_access import AccessStore
from dfr.store_audit import AuditStore, refusal_reason
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_calls import CallStore
from dfr.store_drones import DroneStore
from dfr.store_flight_records import FlightRecordStore
from dfr.store_records import (
    ACCEPTED,
    DENIED,
    FINAL_SORTIE_STATES,
    INTERRUPTED,
    OPEN_CALL_STATES,
    REFUSED,
    RETASKABLE_STATES,
    UNLAUNCHED_STATES,
    AuditEntry,
    CallRecord,
    CallVersion,
    Conflict,
    FlightRecords,
    HoldKind,
    HoldRecord,
    NewCall,
    NewVideoView,
    NotFound,
    NotRetaskable,
    Retasked,
    ShareLinkRecord,
    SortieEvent,
    SortieRecord,
    StoreError,
    TrackPoint,
    VersionOutcome,
    VideoViewRecord,
    utc_now,
)
from dfr.store_sorties import SortieStore
from dfr.store_video_views import VideoViewStore

__all__ = [
    "ACCEPTED",
    "DENIED",
    "FINAL_SORTIE_STATES",
    "INTERRUPTED",
    "OPEN_CALL_STATES",
    "REFUSED",
    "RETASKABLE_STATES",
    "UNLAUNCHED_STATES",
    "AuditEntry",
    "CallRecord",
    "CallVersion",
    "Conflict",
    "FlightRecords",
    "HoldKind",
    "HoldRecord",
    "NewCall",
    "NewVideoView",
    "NotFound",
    "NotRetaskable",
    "Retasked",
    "ShareLinkRecord",
    "SortieEvent",
    "SortieRecord",
    "Store",
    "StoreError",
    "TrackPoint",
    "VersionOutcome",
    "VideoViewRecord",
    "audit_in",
    "refusal_reason",
    "transaction",
    "utc_now",
]


class Store(
    CallStore,
    DroneStore,
    SortieStore,
    AuditStore,
    AccessStore,
    VideoViewStore,
    FlightRecordStore,
):
    """Async facade over one database: an SQLite file, or PostgreSQL for a
    `postgresql://` URL. Use `async with Store.open(path_or_url) as store:`; with
    `checkpoints`, the audit chain's head is signed as it grows."""

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
