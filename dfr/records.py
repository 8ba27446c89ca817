"""The records dfr serves: sorties with their tracks and plans, evidence, audit log, holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dfr.active_sorties import SortieBoard
from dfr.agency_scope import AgencyScope
from dfr.audit_signing import Checkpoint, PublicKey
from dfr.auth import Principal
from dfr.deployment import Deployment
from dfr.evidence import export_package
from dfr.public_log import PublicLog, PublicLogView
from dfr.store import (
    AuditEntry,
    CallRecord,
    HoldKind,
    HoldRecord,
    SortieRecord,
    Store,
    TrackPoint,
)
from missions.mission_plan import MissionItem
from missions.qgc_plan import export_plan
from missions.sortie import FINAL_STATES


class Records:
    """What dfr keeps of its flights, cut to who asks (`dfr.agency_scope`); exports and
    holds are audited, refused or not."""

    def __init__(
        self,
        deployment: Deployment,
        store: Store,
        board: SortieBoard,
        scope: AgencyScope,
        recordings_dir: Path,
        key_path: Path,
    ) -> None:
        self.deployment = deployment
        self._store = store
        self._board = board
        self._scope = scope
        self._recordings_dir = recordings_dir
        self._key_path = key_path
        self._public_log = PublicLog(store, deployment)

    # -- sorties ------------------------------------------------------------------

    async def list_sorties(
        self,
        after_id: int = 0,
        limit: int = -1,
        active_only: bool = False,
        who: Principal | None = None,
    ) -> list[SortieRecord]:
        """Sorties after the cursor; `active_only`: those not yet ended; `who`: those it
        sees (its agencies' drones', and those flying calls it sees)."""
        ended = [str(s) for s in FINAL_STATES] if active_only else []
        records = await self._store.list_sorties(after_id, limit, ended)
        if who is None or who.agencies is None:
            return records
        calls: dict[int, CallRecord] = {}
        return [r for r in records if await self._scope.sees_sortie(who, r, calls)]

    async def get_sortie(self, sortie_id: int) -> SortieRecord:
        return await self._store.get_sortie(sortie_id)

    async def sortie_track(self, sortie_id: int) -> list[TrackPoint]:
        """Where the sortie's drone flew, once a second. Raises the store's NotFound."""
        await self._store.get_sortie(sortie_id)
        return await self._store.track(sortie_id)

    async def sortie_plan(self, sortie_id: int) -> dict[str, Any]:
        """The sortie's mission and fence as read back from the vehicle (as uploaded when
        nothing was read back), with its dock as rally point, as a QGroundControl plan.
        Raises the store's NotFound."""
        record = await self._store.get_sortie(sortie_id)
        station = self.deployment.station(record.station_id)
        transfers = await self._store.transfers(sortie_id)

        def items(kind: str) -> list[MissionItem]:
            ways = transfers.get(kind, {})
            return [MissionItem(**i) for i in ways.get("read_back", ways.get("uploaded", []))]

        home = (
            station.position.latitude_deg,
            station.position.longitude_deg,
            station.ground_alt_amsl_m,
        )
        speed = min(station.drone.cruise_speed_m_s, station.drone.max_speed_m_s)
        return export_plan(items("mission"), items("fence"), home, speed)

    async def sortie_for_call(self, call_id: int) -> SortieRecord | None:
        """The sortie serving the call now (under overwatch, not a relief still on its
        way), else the call's latest."""
        serving = self._board.for_call(call_id)
        if serving is not None:
            return await self._store.get_sortie(serving.record.id)
        return await self._store.latest_sortie_for_call(call_id)

    # -- evidence and the audit log -----------------------------------------------

    async def record_recording(self, manifest: dict[str, Any]) -> None:
        """Audit a finished recording (one a crash cut short is marked interrupted)."""
        subject = f"sortie:{manifest['sortie_id']}" if manifest.get("sortie_id") else ""
        await self._store.audit("system", "recording.saved", subject, manifest)

    async def evidence_package(self, sortie_id: int, who: Principal) -> Path:
        """The sortie's signed evidence package, written to a temporary file the caller
        removes (audited, refused or not). Raises the store's NotFound."""
        subject = f"sortie:{sortie_id}"
        async with self._store.attempt(who.name, "evidence.export", subject, {}):
            await self._scope.visible_sortie(who, sortie_id)
            return await export_package(
                self._store, sortie_id, self._recordings_dir, self.deployment, self._key_path
            )

    async def audit_log(
        self, limit: int, after_id: int, who: Principal | None = None
    ) -> list[AuditEntry]:
        entries = await self._store.audit_log(limit, after_id)
        return entries if who is None else await self._scope.visible_audit(who, entries)

    async def audit_checkpoints(self, after_id: int, limit: int) -> list[tuple[int, Checkpoint]]:
        return await self._store.audit_checkpoints(after_id, limit)

    def audit_public_key(self) -> PublicKey | None:
        """The key that checks the audit checkpoints (None: this server signs none)."""
        return self._store.audit_public_key

    # -- holds and the public flight log ------------------------------------------

    async def place_hold(
        self, kind: HoldKind, sortie_id: int, who: Principal, reason: str
    ) -> HoldRecord:
        """Hold a sortie as evidence, or back from the public log; raises the store's
        NotFound and Conflict (one hold of a kind at a time)."""
        subject = f"sortie:{sortie_id}"
        async with self._store.attempt(
            who.name, f"{kind}.place", subject, {"reason": reason}, audit_accepted=False
        ):
            await self._scope.visible_sortie(who, sortie_id)
            return await self._store.place_hold(kind, sortie_id, who.name, reason)

    async def lift_hold(
        self, kind: HoldKind, sortie_id: int, who: Principal, reason: str
    ) -> HoldRecord:
        subject = f"sortie:{sortie_id}"
        async with self._store.attempt(
            who.name, f"{kind}.lift", subject, {"reason": reason}, audit_accepted=False
        ):
            await self._scope.visible_sortie(who, sortie_id)
            return await self._store.lift_hold(kind, sortie_id, who.name, reason)

    async def holds(self, sortie_id: int) -> list[HoldRecord]:
        """Every hold the sortie has had, oldest first. Raises the store's NotFound."""
        await self._store.get_sortie(sortie_id)
        found = [h for kind in HoldKind for h in await self._store.holds(kind, sortie_id)]
        return sorted(found, key=lambda h: h.placed_at)

    async def public_flights(self) -> PublicLogView:
        """The public flight log as anyone may read it now."""
        return await self._public_log.view()
