"""The audit log's signed checkpoints (RTCC and admins) and the public key that checks
them, served to anyone: a copy of the log is checked with `dfr audit verify`."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Response

from dfr.api.deps import AfterId, OpsDep, PageSize, next_page, require
from dfr.api.errors import answers
from dfr.api.schemas import AuditCheckpointOut, AuditPublicKeyOut
from dfr.auth import Principal, Role

router = APIRouter(prefix="/api/audit")
CheckpointReader = Annotated[Principal, Depends(require(Role.ADMIN, Role.RTCC))]


@router.get(
    "/public-key",
    response_model=AuditPublicKeyOut,
    tags=["audit"],
    responses=answers(404),
)
async def public_key(ops: OpsDep) -> AuditPublicKeyOut:
    """The public half of the key that signs the audit log's checkpoints (PEM) and its
    fingerprint. No login: whoever holds a copy of the log checks it with this key
    (`dfr audit verify --public-key`); keep a copy of it, and of the fingerprint,
    away from the server."""
    key = ops.records.audit_public_key()
    if key is None:
        raise HTTPException(404, "this server signs no audit checkpoints")
    return AuditPublicKeyOut(public_key_pem=key.pem, fingerprint=key.key_id)


@router.get(
    "/checkpoints",
    response_model=list[AuditCheckpointOut],
    tags=["audit"],
    responses=answers(401, 403, 422),
)
async def checkpoints(
    ops: OpsDep,
    who: CheckpointReader,
    response: Response,
    after_id: AfterId = 0,
    limit: PageSize = 500,
) -> list[AuditCheckpointOut]:
    """Signed checkpoints of the audit log (entry, hash, time, kind, signature) in the
    order they were written, a page at a time (X-Next-After-Id names the next cursor)."""
    found = await ops.records.audit_checkpoints(after_id, limit)
    next_page(response, [number for number, _ in found], limit)
    return [AuditCheckpointOut(id=number, **asdict(cp)) for number, cp in found]
