"""The checksum a PX4 vehicle reports for the mission and fence it accepted, computed here.

The expected figures were reported by PX4 SITL (MISSION_ACK.opaque_id and
MISSION_CURRENT.mission_id / fence_id) for exactly these items, uploaded by dfr.
"""

from __future__ import annotations

import math

from missions.mission_plan import MavCmd, MissionItem, MissionType, transfer_checksum

NAN = math.nan
MISSION = (
    MissionItem(0, MavCmd.NAV_TAKEOFF, 6, param4=NAN, x=382544000, y=-1046091000, z=10.0),
    MissionItem(1, MavCmd.DO_CHANGE_SPEED, 2, param1=1.0, param2=18.0, param3=-1.0),
    MissionItem(2, MavCmd.DO_SET_ROI_LOCATION, 6, x=382606882, y=-1046091000),
    MissionItem(3, MavCmd.NAV_LOITER_UNLIM, 6, param4=NAN, x=382606882, y=-1046091000, z=60.0),
    MissionItem(4, MavCmd.NAV_RETURN_TO_LAUNCH, 2),
)
PX4_MISSION_ID = 1820972826

FENCE = tuple(
    MissionItem(
        seq,
        MavCmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
        5,
        param1=4.0,
        x=x,
        y=y,
        mission_type=MissionType.FENCE,
    )
    for seq, (x, y) in enumerate(
        [
            (382274507, -1046434186),
            (382813493, -1046434186),
            (382813493, -1045747814),
            (382274507, -1045747814),
        ]
    )
)
PX4_FENCE_ID = 1827771582


def test_the_checksums_equal_what_px4_reported() -> None:
    assert transfer_checksum(MISSION) == PX4_MISSION_ID
    assert transfer_checksum(FENCE) == PX4_FENCE_ID


def test_any_change_of_an_item_changes_the_checksum() -> None:
    moved = (*MISSION[:3], MissionItem(3, MavCmd.NAV_LOITER_UNLIM, 6, x=382606883, y=-1046091000))
    assert transfer_checksum(moved) != PX4_MISSION_ID
    assert transfer_checksum(MISSION[::-1]) != PX4_MISSION_ID
    assert transfer_checksum(MISSION[:-1]) != PX4_MISSION_ID
