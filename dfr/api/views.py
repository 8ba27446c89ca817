"""Domain records → response models."""

from __future__ import annotations

from dataclasses import asdict

from dfr.api.schemas import (
    CallOut,
    CandidateOut,
    DispatchOut,
    ExclusionOut,
    RecommendationOut,
    SortieEventOut,
    SortieOut,
)
from dfr.dispatcher import DispatchResult
from dfr.recommend import Recommendation
from dfr.store import CallRecord, SortieRecord


def call_out(call: CallRecord) -> CallOut:
    return CallOut(**asdict(call))


def recommendation_out(rec: Recommendation) -> RecommendationOut:
    data = rec.as_json()
    return RecommendationOut(
        candidates=[CandidateOut(**c) for c in data["candidates"]],
        excluded=[ExclusionOut(**e) for e in data["excluded"]],
    )


def sortie_out(sortie: SortieRecord) -> SortieOut:
    data = asdict(sortie)
    data["events"] = [SortieEventOut(**e) for e in data["events"]]
    return SortieOut(**data)


def dispatch_out(result: DispatchResult) -> DispatchOut:
    return DispatchOut(
        queued=result.queued,
        call=call_out(result.call),
        sortie=sortie_out(result.sortie) if result.sortie else None,
        station_id=result.candidate.station_id if result.candidate else None,
        eta_s=round(result.candidate.eta_s, 1) if result.candidate else None,
        retasked_from_call_id=(
            result.retasked_from.previous.id
            if result.retasked_from is not None and result.retasked_from.previous is not None
            else None
        ),
        retask_failed=result.retask_failed,
        recommendation=recommendation_out(result.recommendation),
        mutual_aid=(
            str(result.candidate.mutual_aid)
            if result.candidate is not None and result.candidate.mutual_aid is not None
            else None
        ),
    )
