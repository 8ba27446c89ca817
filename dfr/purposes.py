"""Why a drone flies without a call: the fixed list a pilot picks from for a launch to a
point. Every flight is bound to a reason: a call, or one of these.

>>> LaunchPurpose("training").label
'Training'
"""

from __future__ import annotations

from enum import StrEnum


class LaunchPurpose(StrEnum):
    TRAINING = "training"
    MAINTENANCE_TEST = "maintenance_test"
    PRE_PLANNED_EVENT = "pre_planned_event"

    @property
    def label(self) -> str:
        """How consoles and the public flight log name it (the flight's public category)."""
        return _LABELS[self]


_LABELS = {
    LaunchPurpose.TRAINING: "Training",
    LaunchPurpose.MAINTENANCE_TEST: "Maintenance test",
    LaunchPurpose.PRE_PLANNED_EVENT: "Pre-planned event",
}


def purposes_json() -> list[dict[str, str]]:
    """The list as the pilot console offers it: [{"id", "label"}] in this order."""
    return [{"id": str(p), "label": p.label} for p in LaunchPurpose]
