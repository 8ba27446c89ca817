"""TAK out with several servers: each sends the tracks of the drones it links, not the
relayed last report of another server's drones (two senders of one uid, one of them
seconds behind, would move the drone back and forth on every TAK client)."""

from __future__ import annotations

from datetime import UTC, datetime

from dfr.deployment import TakSettings
from dfr.tak_link import TakLinkSettings
from dfr.tak_out import TakOut

VIEW = {
    "id": "dfr-1",
    "station_id": "hq",
    "online": True,
    "latitude_deg": 38.25,
    "longitude_deg": -104.6,
}


def test_a_drone_another_server_links_gets_no_track_from_this_one() -> None:
    tak = TakOut(TakSettings(url="tcp://127.0.0.1:8087", uid_prefix="t"), TakLinkSettings(), "x")
    at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    tak.take_drone({**VIEW, "linked_by": "server-a"}, at)
    assert tak.link.outbox.qsize() == 0
    tak.take_drone(VIEW, at)  # linked here
    assert tak.link.outbox.qsize() == 1
