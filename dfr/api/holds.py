"""Holds on a sortie: as evidence (RTCC, admins) and back from the public flight log
(admins); each placed and lifted with a reason, in the audit log."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from dfr.api.deps import OpsDep, SortieId, require
from dfr.api.errors import answers
from dfr.api.schemas import HoldIn, HoldOut, SortieHoldsOut
from dfr.auth import CAN_WATCH_ALL, Principal, Role
from dfr.store import HoldKind, HoldRecord

router = APIRouter(prefix="/api/sorties", tags=["holds"])
Watcher = Annotated[Principal, Depends(require(*CAN_WATCH_ALL))]
EvidenceKeeper = Annotated[Principal, Depends(require(Role.RTCC, Role.ADMIN))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def hold_out(hold: HoldRecord) -> HoldOut:
    return HoldOut(**asdict(hold), active=hold.active)


@router.get(
    "/{sortie_id}/holds", response_model=SortieHoldsOut, responses=answers(401, 403, 404, 422)
)
async def holds(sortie_id: SortieId, ops: OpsDep, who: Watcher) -> SortieHoldsOut:
    """Whether the sortie is held as evidence or back from the public log, and every
    hold it has had."""
    await ops.scope.visible_sortie(who, sortie_id)
    found = await ops.records.holds(sortie_id)
    active = {h.kind for h in found if h.active}
    return SortieHoldsOut(
        sortie_id=sortie_id,
        held_as_evidence=HoldKind.EVIDENCE in active,
        held_from_public_log=HoldKind.PUBLICATION in active,
        holds=[hold_out(h) for h in found],
    )


@router.post(
    "/{sortie_id}/evidence-hold",
    status_code=201,
    response_model=HoldOut,
    responses=answers(400, 401, 403, 404, 409, 413, 422),
)
async def hold_evidence(
    sortie_id: SortieId, body: HoldIn, ops: OpsDep, who: EvidenceKeeper
) -> HoldOut:
    """Hold the sortie's record (track, video) as evidence; 409 when it is held already."""
    return hold_out(await ops.records.place_hold(HoldKind.EVIDENCE, sortie_id, who, body.reason))


@router.post(
    "/{sortie_id}/evidence-hold/lift",
    response_model=HoldOut,
    responses=answers(400, 401, 403, 404, 409, 413, 422),
)
async def lift_evidence(
    sortie_id: SortieId, body: HoldIn, ops: OpsDep, who: EvidenceKeeper
) -> HoldOut:
    """Lift the evidence hold; 409 when there is none."""
    return hold_out(await ops.records.lift_hold(HoldKind.EVIDENCE, sortie_id, who, body.reason))


@router.post(
    "/{sortie_id}/publication-hold",
    status_code=201,
    response_model=HoldOut,
    responses=answers(400, 401, 403, 404, 409, 413, 422),
)
async def hold_back(sortie_id: SortieId, body: HoldIn, ops: OpsDep, who: Admin) -> HoldOut:
    """Keep the flight out of the public log (it is counted there as held back); 409 when
    it is held back already."""
    return hold_out(await ops.records.place_hold(HoldKind.PUBLICATION, sortie_id, who, body.reason))


@router.post(
    "/{sortie_id}/publication-hold/lift",
    response_model=HoldOut,
    responses=answers(400, 401, 403, 404, 409, 413, 422),
)
async def release(sortie_id: SortieId, body: HoldIn, ops: OpsDep, who: Admin) -> HoldOut:
    """Publish the flight again; 409 when it is not held back."""
    return hold_out(await ops.records.lift_hold(HoldKind.PUBLICATION, sortie_id, who, body.reason))
