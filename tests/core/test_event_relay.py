"""What the event relay sends to the other servers and what it makes of theirs
(dfr.event_relay), without a database: its payloads and its reading of one."""

from __future__ import annotations

import json

from dfr.event_relay import MAX_PAYLOAD_BYTES, EventRelay
from dfr.events import Event, EventBus


def relay(links: set[str]) -> EventRelay:
    return EventRelay("postgresql://unused", "server-a", EventBus(), lambda d: d in links)


def telemetry(*ids: str) -> Event:
    return Event("telemetry", {"at": "t", "drones": [{"id": i, "online": True} for i in ids]})


def test_telemetry_goes_drone_by_drone_and_only_for_the_drones_this_server_links() -> None:
    sent = [json.loads(p) for p in relay({"d1", "d3"}).payloads(telemetry("d1", "d2", "d3"))]
    assert [m["data"]["drones"][0]["id"] for m in sent] == ["d1", "d3"]
    assert all(m["origin"] == "server-a" and m["kind"] == "telemetry" for m in sent)


def test_relayed_events_stream_lists_and_oversized_ones_are_not_sent() -> None:
    r = relay(set())
    assert r.payloads(Event("call", {"call_id": 1}, origin="server-b")) == []
    assert r.payloads(Event("streams", {"streams": []})) == []
    assert r.payloads(Event("alert", {"message": "x" * MAX_PAYLOAD_BYTES})) == []
    (call,) = r.payloads(Event("call", {"call_id": 1}))
    assert json.loads(call) == {"origin": "server-a", "kind": "call", "data": {"call_id": 1}}


def test_another_servers_events_arrive_marked_and_its_drones_are_remembered() -> None:
    r = relay(set())
    own = json.dumps({"origin": "server-a", "kind": "call", "data": {"call_id": 1}})
    assert r.take(own) is None  # never echoed
    call = r.take(json.dumps({"origin": "server-b", "kind": "call", "data": {"call_id": 2}}))
    assert call == Event("call", {"call_id": 2}, origin="server-b")
    assert r.payloads(call) == []  # and never sent on
    seen = telemetry("d9")
    message = {"origin": "server-b", "kind": "telemetry", "data": seen.data}
    assert r.take(json.dumps(message)) is None
    assert r.remote_drone("d9") == {"id": "d9", "online": True, "linked_by": "server-b"}
    assert r.remote_drone("d1") is None
    assert r.take("not json") is None
