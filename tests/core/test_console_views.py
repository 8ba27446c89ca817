"""What an officer's share link may see of the console event feed."""

from __future__ import annotations

from dfr.console_views import share_link_view
from dfr.events import Event

DRONES = [{"id": "dfr-1", "station_id": "hq"}, {"id": "dfr-2", "station_id": "east"}]
TELEMETRY = Event("telemetry", {"at": "t", "drones": DRONES})


def test_a_share_link_sees_only_the_drone_serving_its_call() -> None:
    view = share_link_view(TELEMETRY, call_id=7, station_id="east")
    assert view is not None
    assert view.data["drones"] == [{"id": "dfr-2", "station_id": "east"}]
    assert view.data["at"] == "t"
    # Nothing is changed in the event every other console gets.
    assert len(TELEMETRY.data["drones"]) == 2


def test_no_drone_serves_the_call_yet_so_no_telemetry() -> None:
    assert share_link_view(TELEMETRY, call_id=7, station_id=None) is None


def test_a_share_link_sees_its_own_call_and_no_other() -> None:
    own = Event("sortie", {"call_id": 7, "sortie": {"id": 3}})
    other = Event("call", {"call_id": 8, "call": {"id": 8}})
    alert = Event("alert", {"severity": "critical", "message": "fault"})
    assert share_link_view(own, call_id=7, station_id="hq") is own
    assert share_link_view(other, call_id=7, station_id="hq") is None
    assert share_link_view(alert, call_id=7, station_id="hq") is None
