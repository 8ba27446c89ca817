"""The MAVLink mission protocol, vehicle side, for mission, fence and rally lists.

Upload: MISSION_COUNT -> MISSION_REQUEST_INT(seq) -> MISSION_ITEM_INT ... -> MISSION_ACK.
Download: MISSION_REQUEST_LIST -> MISSION_COUNT -> MISSION_REQUEST_INT -> MISSION_ITEM_INT
... <- MISSION_ACK. Also MISSION_CLEAR_ALL and MISSION_SET_CURRENT. Every reply
carries the request's mission_type. A stalled upload is re-requested every
`RETRY_S` and cancelled after `TIMEOUT_S` without a message from the ground station
(PX4's MAVLINK_MISSION_RETRY/PROTOCOL_TIMEOUT_DEFAULT; no cap on the requests);
both run on the wall clock because the ground station's own timeouts do (PX4 under
lockstep would use vehicle time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pymavlink.dialects.v20 import common as mavlink

from missions.mission_plan import transfer_checksum
from sitl.link import Outbox
from sitl.mission_items import ALL_TYPES, MISSION, MISSION_TYPES, MissionItem, check_item
from sitl.wire import MISSION_ACK

RETRY_S = 0.25
TIMEOUT_S = 5.0
MAX_ITEMS = 1000

# Validates a completed upload: returns a MAV_MISSION_RESULT.
Validator = Callable[[int, tuple[MissionItem, ...]], int]


@dataclass(slots=True)
class _Upload:
    mission_type: int
    count: int
    partner: tuple[int, int]
    items: list[MissionItem] = field(default_factory=list)
    last_activity_s: float = 0.0
    last_request_s: float = 0.0


class MissionStore:
    """The lists the vehicle holds, one per mission type."""

    def __init__(self) -> None:
        self._lists: dict[int, tuple[MissionItem, ...]] = {t: () for t in MISSION_TYPES}
        self._checksums: dict[int, int] = {t: 0 for t in MISSION_TYPES}

    def get(self, mission_type: int) -> tuple[MissionItem, ...]:
        return self._lists.get(mission_type, ())

    def checksum(self, mission_type: int) -> int:
        """PX4's CRC-32 of the list as it was uploaded (0 when empty): MISSION_ACK's
        opaque_id and MISSION_CURRENT's mission_id / fence_id / rally_points_id."""
        return self._checksums.get(mission_type, 0)

    def replace(self, mission_type: int, items: tuple[MissionItem, ...]) -> None:
        self._lists[mission_type] = items
        self._checksums[mission_type] = transfer_checksum(items)


class MissionTransfer:
    """Answers a ground station's mission-protocol messages."""

    def __init__(
        self,
        outbox: Outbox,
        store: MissionStore,
        validate: Validator,
        on_changed: Callable[[int], None],
        on_set_current: Callable[[int], bool],
    ) -> None:
        self._out = outbox
        self._store = store
        self._validate = validate
        self._on_changed = on_changed
        self._on_set_current = on_set_current
        self._upload: _Upload | None = None
        #: Upload starts (MISSION_COUNT) still to be lost, as on a congested link.
        self.lose_upload_starts = 0
        self.lost_upload_starts = 0

    @property
    def uploading(self) -> bool:
        return self._upload is not None

    def handle(self, msg: object, sender: tuple[int, int]) -> bool:
        """Process one message; False when it is not a mission-protocol message."""
        kind = msg.get_type()  # type: ignore[attr-defined]
        handler = {
            "MISSION_COUNT": self._on_count,
            "MISSION_ITEM_INT": self._on_item,
            "MISSION_ITEM": self._on_item,
            "MISSION_REQUEST_LIST": self._on_request_list,
            "MISSION_REQUEST_INT": self._on_request,
            "MISSION_REQUEST": self._on_request,
            "MISSION_CLEAR_ALL": self._on_clear_all,
            "MISSION_SET_CURRENT": self._on_set_current_msg,
            "MISSION_ACK": self._on_ack,
        }.get(kind)
        if handler is None:
            return False
        handler(msg, sender)
        return True

    def poll(self) -> None:
        """Re-request a stalled upload item; give up after TIMEOUT_S."""
        upload = self._upload
        if upload is None:
            return
        now = time.monotonic()
        if now - upload.last_activity_s > TIMEOUT_S:
            self._upload = None
            self._ack(upload.partner, mavlink.MAV_MISSION_OPERATION_CANCELLED, upload.mission_type)
        elif now - upload.last_request_s > RETRY_S:
            self._request(upload)

    # upload

    def _on_count(self, msg: object, sender: tuple[int, int]) -> None:
        if self.lose_upload_starts > 0:
            self.lose_upload_starts -= 1
            self.lost_upload_starts += 1
            return
        mission_type = getattr(msg, "mission_type", MISSION)
        count = msg.count  # type: ignore[attr-defined]
        if mission_type not in MISSION_TYPES:
            self._ack(sender, mavlink.MAV_MISSION_UNSUPPORTED, mission_type)
            return
        if count > MAX_ITEMS:
            self._ack(sender, mavlink.MAV_MISSION_NO_SPACE, mission_type)
            return
        if count == 0:
            self._upload = None
            self._commit(sender, mission_type, ())
            return
        now = time.monotonic()
        self._upload = _Upload(mission_type, count, sender, last_activity_s=now)
        self._request(self._upload)

    def _on_item(self, msg: object, sender: tuple[int, int]) -> None:
        upload = self._upload
        mission_type = getattr(msg, "mission_type", MISSION)
        if upload is None or mission_type != upload.mission_type:
            # PX4 ignores items nobody asked for (a late retransmission).
            return
        seq = msg.seq  # type: ignore[attr-defined]
        upload.last_activity_s = time.monotonic()
        if seq != len(upload.items):
            self._request(upload)  # duplicate or out of order: ask again for the one we need
            return
        item = MissionItem.from_message(msg)
        result = check_item(item)
        if result != mavlink.MAV_MISSION_ACCEPTED:
            self._upload = None
            self._ack(sender, result, mission_type)
            return
        upload.items.append(item)
        if len(upload.items) < upload.count:
            self._request(upload)
            return
        self._upload = None
        self._commit(sender, mission_type, tuple(upload.items))

    def _commit(
        self, partner: tuple[int, int], mission_type: int, items: tuple[MissionItem, ...]
    ) -> None:
        result = self._validate(mission_type, items)
        if result == mavlink.MAV_MISSION_ACCEPTED:
            self._store.replace(mission_type, items)
        self._ack(partner, result, mission_type, self._store.checksum(mission_type))
        if result == mavlink.MAV_MISSION_ACCEPTED:
            self._on_changed(mission_type)

    def _request(self, upload: _Upload) -> None:
        upload.last_request_s = time.monotonic()
        self._out.send(
            self._out.mav.mission_request_int_encode(
                upload.partner[0], upload.partner[1], len(upload.items), upload.mission_type
            )
        )

    # download

    def _on_request_list(self, msg: object, sender: tuple[int, int]) -> None:
        mission_type = getattr(msg, "mission_type", MISSION)
        if mission_type not in MISSION_TYPES:
            self._ack(sender, mavlink.MAV_MISSION_UNSUPPORTED, mission_type)
            return
        count = len(self._store.get(mission_type))
        self._out.send(self._out.mav.mission_count_encode(*sender, count, mission_type))

    def _on_request(self, msg: object, sender: tuple[int, int]) -> None:
        mission_type = getattr(msg, "mission_type", MISSION)
        items = self._store.get(mission_type)
        seq = msg.seq  # type: ignore[attr-defined]
        if not 0 <= seq < len(items):
            self._ack(sender, mavlink.MAV_MISSION_INVALID_SEQUENCE, mission_type)
            return
        it = items[seq]
        mav = self._out.mav
        if msg.get_type() == "MISSION_REQUEST_INT":  # type: ignore[attr-defined]
            reply = mav.mission_item_int_encode(
                *sender, seq, it.frame, it.command, it.current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4, it.x, it.y, it.z, mission_type,
            )  # fmt: skip
        else:
            reply = mav.mission_item_encode(
                *sender, seq, it.frame, it.command, it.current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4,
                it.latitude_deg, it.longitude_deg, it.z, mission_type,
            )  # fmt: skip
        self._out.send(reply)

    def _on_ack(self, msg: object, sender: tuple[int, int]) -> None:
        """The ground station's ACK closes a download; nothing to keep."""

    # other

    def _on_clear_all(self, msg: object, sender: tuple[int, int]) -> None:
        mission_type = getattr(msg, "mission_type", MISSION)
        types = MISSION_TYPES if mission_type == ALL_TYPES else (mission_type,)
        if not set(types) <= set(MISSION_TYPES):
            self._ack(sender, mavlink.MAV_MISSION_UNSUPPORTED, mission_type)
            return
        for t in types:
            self._store.replace(t, ())
        self._ack(sender, mavlink.MAV_MISSION_ACCEPTED, mission_type, 0)
        for t in types:
            self._on_changed(t)

    def _on_set_current_msg(self, msg: object, sender: tuple[int, int]) -> None:
        if not self._on_set_current(msg.seq):  # type: ignore[attr-defined]
            self._ack(sender, mavlink.MAV_MISSION_INVALID_SEQUENCE, MISSION)

    def _ack(
        self, partner: tuple[int, int], result: int, mission_type: int, opaque_id: int = 0
    ) -> None:
        """MISSION_ACK; an accepted upload carries the list's checksum (opaque_id) as
        PX4's does."""
        accepted = result == mavlink.MAV_MISSION_ACCEPTED
        self._out.send(
            MISSION_ACK.pack(
                self._out.mav, *partner, result, mission_type, opaque_id if accepted else 0
            )
        )
