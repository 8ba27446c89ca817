"""The audit log as the store's users see it: an entry appended, an attempt audited with
how it ended, the entries read in order or about a sortie and its call, and the signed
checkpoints of the chain with the key that checks them. The append itself, and the
chain, are in `dfr.store_audit_chain`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from dfr.audit_signing import Checkpoint, PublicKey
from dfr.db_connection import Connection, json_int_equals
from dfr.store_audit_chain import CHECKPOINT_COLUMNS, audit_in, transaction
from dfr.store_base import StoreBase, at_most
from dfr.store_records import ACCEPTED, INTERRUPTED, REFUSED, AuditEntry, StoreError


class AuditStore(StoreBase):
    """The audit log and its signed checkpoints."""

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
            with transaction(c):
                audit_in(c, actor, action, subject, details or {}, outcome, reason)

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

    async def audit_log(self, limit: int = 500, after_id: int = 0) -> list[AuditEntry]:
        rows = await self._run_conn(
            lambda c: c.execute(
                "SELECT * FROM audit WHERE id > ? ORDER BY id LIMIT ?", (after_id, at_most(limit))
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
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints WHERE id > ?"
                " ORDER BY id LIMIT ?",
                (after_id, at_most(limit)),
            ).fetchall()
        )
        return [(r["id"], Checkpoint(*tuple(r)[1:])) for r in rows]

    async def latest_audit_checkpoint(self) -> dict[str, Any] | None:
        """The last signed checkpoint of the audit chain, as JSON (None: none yet)."""
        rows = await self._run_conn(
            lambda c: c.execute(
                f"SELECT {CHECKPOINT_COLUMNS} FROM audit_checkpoints ORDER BY id DESC LIMIT 1"
            ).fetchall()
        )
        return Checkpoint(*tuple(rows[0])[1:]).as_json() if rows else None

    @property
    def audit_public_key(self) -> PublicKey | None:
        """The key the audit checkpoints are checked with (None: no checkpoints)."""
        return self._checkpoints.key.public if self._checkpoints is not None else None


def refusal_reason(exc: BaseException) -> str:
    """What a refused attempt is audited with: the message the client gets."""
    return str(exc) or type(exc).__name__
