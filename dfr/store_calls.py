"""Calls: stored and audited before anyone acknowledges them; from another system, once
per source and external id, and its later versions taken in order; read, listed and
queued; shared with another agency; kept under overwatch; and what the launch policies
did with each.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dfr.db_connection import Connection
from dfr.store_audit_chain import audit_in, transaction
from dfr.store_base import StoreBase, at_most, read_call, write_policy
from dfr.store_records import (
    ACCEPTED,
    REFUSED,
    CallRecord,
    CallVersion,
    Conflict,
    NewCall,
    NotFound,
    VersionOutcome,
    call_record,
    utc_now,
)
from missions.geo import GeoPoint


class CallStore(StoreBase):
    """The calls table."""

    async def add_call(self, call: NewCall, actor: str) -> CallRecord:
        """Store a call (and audit it) before anyone acknowledges it."""

        def work(c: Connection) -> CallRecord:
            with transaction(c):
                return _insert_call(c, call, actor)

        return await self._run_conn(work)

    async def add_external_call(self, call: NewCall, actor: str) -> tuple[CallRecord, bool]:
        """Store a call from another system once per (source, external_id): a retry of the
        same incident returns the call already stored. Returns (call, newly stored)."""
        if call.external_id is None:
            raise ValueError("an external call needs its external_id")

        def work(c: Connection) -> tuple[CallRecord, bool]:
            with transaction(c):
                row = c.execute(
                    "SELECT id FROM calls WHERE source = ? AND external_id = ? ORDER BY id LIMIT 1",
                    (call.source, call.external_id),
                ).fetchone()
                if row is not None:
                    audit_in(c, actor, "call.repeat", f"call:{row['id']}", {"id": call.external_id})
                    return read_call(c, row["id"]), False
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
            with transaction(c):
                row = c.execute(
                    "SELECT id FROM calls WHERE source = ? AND external_id = ? ORDER BY id LIMIT 1",
                    (call.source, call.external_id),
                ).fetchone()
                if row is None:
                    return CallVersion(_insert_call(c, call, actor), VersionOutcome.CREATED)
                return _apply_version(c, read_call(c, row["id"]), call, actor)

        return await self._run_conn(work)

    async def get_call(self, call_id: int) -> CallRecord:
        return await self._run_conn(lambda c: read_call(c, call_id))

    async def list_calls(
        self, statuses: Iterable[str] | None = None, after_id: int = 0, limit: int = -1
    ) -> list[CallRecord]:
        """Calls by id after `after_id` (a cursor), at most `limit` (-1: all)."""
        wanted = tuple(statuses) if statuses else None

        def work(c: Connection) -> list[CallRecord]:
            where = "id > ?"
            args: list[int | str] = [after_id]
            if wanted:
                where += f" AND status IN ({','.join('?' * len(wanted))})"
                args += wanted
            rows = c.execute(
                f"SELECT * FROM calls WHERE {where} ORDER BY id LIMIT ?", (*args, at_most(limit))
            ).fetchall()
            return [call_record(r) for r in rows]

        return await self._run_conn(work)

    async def share_call_with_agency(
        self, call_id: int, agency: str, actor: str, details: dict | None = None
    ) -> CallRecord:
        """Let `agency` see the call too (audited `call.share_agency` with both agencies);
        sharing it again changes nothing. Raises NotFound."""

        def work(c: Connection) -> CallRecord:
            with transaction(c):
                call = read_call(c, call_id)
                if agency == call.agency or agency in call.shared_with:
                    return call
                shared = json.dumps([*call.shared_with, agency])
                c.execute("UPDATE calls SET shared_with = ? WHERE id = ?", (shared, call_id))
                about = {**(details or {}), "agencies": [call.agency, agency]}
                audit_in(c, actor, "call.share_agency", f"call:{call_id}", about)
            return read_call(c, call_id)

        return await self._run_conn(work)

    async def queued_calls(self) -> list[CallRecord]:
        """Calls waiting for a drone, most urgent first (priority 1 first, then oldest)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT * FROM calls WHERE status = 'queued' ORDER BY priority, id"
            ).fetchall()
        )
        return [call_record(r) for r in rows]

    async def set_call_status(self, call_id: int, status: str, actor: str) -> CallRecord:
        def work(c: Connection) -> CallRecord:
            with transaction(c):
                if (
                    c.execute(
                        "UPDATE calls SET status = ? WHERE id = ?", (status, call_id)
                    ).rowcount
                    != 1
                ):
                    raise NotFound(f"no call {call_id}")
                audit_in(c, actor, f"call.{status}", f"call:{call_id}", {})
            return read_call(c, call_id)

        return await self._run_conn(work)

    async def set_call_overwatch(self, call_id: int, overwatch: bool, actor: str) -> CallRecord:
        """Keep a call under overwatch (or stop). Raises NotFound, and Conflict for a
        closed call."""

        def work(c: Connection) -> CallRecord:
            with transaction(c):
                call = read_call(c, call_id)
                if call.status == "closed":
                    raise Conflict(f"call {call_id} is closed")
                c.execute("UPDATE calls SET overwatch = ? WHERE id = ?", (int(overwatch), call_id))
                audit_in(c, actor, "call.overwatch", f"call:{call_id}", {"overwatch": overwatch})
                return read_call(c, call_id)

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
            with transaction(c):
                call = read_call(c, call_id)
                if reopen and call.status == "dispatched":
                    c.execute("UPDATE calls SET status = 'new' WHERE id = ?", (call_id,))
                    audit_in(c, actor, "call.new", f"call:{call_id}", {})
                write_policy(c, call_id, policy, outcome, reason, actor, audit_outcome)
            return read_call(c, call_id)

        return await self._run_conn(work)

    async def latest_call_requested_by(self, requester: str) -> CallRecord | None:
        """The last call `requester` (an officer) asked for, or None."""

        def work(c: Connection) -> CallRecord | None:
            row = c.execute(
                "SELECT * FROM calls WHERE requester = ? ORDER BY id DESC LIMIT 1", (requester,)
            ).fetchone()
            return call_record(row) if row is not None else None

        return await self._run_conn(work)


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
    audit_in(c, actor, "call.create", f"call:{call_id}", details)
    return read_call(c, call_id)


def _apply_version(c: Connection, stored: CallRecord, call: NewCall, actor: str) -> CallVersion:
    """Take `call` as a version of `stored` (see Store.take_call_version)."""
    subject = f"call:{stored.id}"
    seen = {"id": call.external_id, "version": call.source_updated_at}
    known = stored.source_updated_at or ""
    assert call.source_updated_at is not None
    if call.source_updated_at == known:
        audit_in(c, actor, "call.repeat", subject, seen)
        return CallVersion(stored, VersionOutcome.UNCHANGED)
    if call.source_updated_at < known:
        why = f"version {call.source_updated_at} is older than the one stored ({known})"
        audit_in(c, actor, "call.update", subject, seen, REFUSED, why)
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
    audit_in(c, actor, "call.update", subject, details)
    return CallVersion(read_call(c, stored.id), VersionOutcome.UPDATED, stored, moved_m)
