"""EIDO intake over HTTP: CAD posts an incident (NENA-STA-021 EIDO, JSON) and gets the call.

Authenticated as the CAD and gunshot webhooks are: the shared secret
DFR_CAD_WEBHOOK_TOKEN in an `X-DFR-Token` header (503 while it is not set). The body must
say it is an EIDO (`Content-Type: application/emergency.eido+json`, else 415).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response

from dfr.api.deps import OpsDep
from dfr.api.errors import answers
from dfr.api.schemas import EidoOut
from dfr.api.views import call_out
from dfr.eido import EIDO_MEDIA_TYPE
from dfr.store import VersionOutcome

router = APIRouter(prefix="/api", tags=["webhooks"])
ACTOR = "eido"
_BODY = {
    "required": True,
    "content": {
        EIDO_MEDIA_TYPE: {
            "schema": {
                "type": "object",
                "description": "an EIDO: EmergencyIncidentDataObjectType of NENA-STA-021.1b "
                "(github.com/NENA911/EIDO-JSON, Schema/openapi.yaml at tag NENA-STA-021.1b)",
            }
        }
    },
}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "model": EidoOut,
        "description": "a version of an incident already stored: the call, updated (a later "
        "lastUpdateTimeStamp) or not (the same or an earlier one, ignored)",
    },
    **answers(400, 401, 413, 415, 422, 503),
}


@router.post(
    "/eido",
    status_code=201,
    response_model=EidoOut,
    responses=_ANSWERS,
    openapi_extra={"requestBody": _BODY},
)
async def take_eido(
    request: Request,
    ops: OpsDep,
    response: Response,
    x_dfr_token: Annotated[str | None, Header()] = None,
) -> EidoOut:
    """An incident from CAD as an EIDO. The first version of an incident (its `$id`, the
    Incident Tracking Identifier) makes a call (201); a later one (`lastUpdateTimeStamp`)
    updates its position, priority and summary (200); the same or an earlier one changes
    nothing (200, saying so). The location is the first PIDF-LO Point or Circle of the
    incident's locations; a civic address alone, or no location, is refused (422)."""
    agency = ops.check_webhook(x_dfr_token)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != EIDO_MEDIA_TYPE:
        raise HTTPException(415, f"send an EIDO as {EIDO_MEDIA_TYPE}")
    result = await ops.calls.take_eido(await request.body(), ACTOR, agency)
    if result.outcome is not VersionOutcome.CREATED:
        response.status_code = 200
    return EidoOut(
        outcome=result.outcome.value,
        detail=result.detail,
        call=call_out(result.call),
        moved_m=round(result.moved_m, 1) if result.moved_m is not None else None,
        alert=result.alert,
    )
