"""Mutual aid across two servers on one PostgreSQL database: a dispatcher on the server
that links no drone sends another agency's drone, and the server linking it launches it
as the rule between the two agencies says (APD into BCSO `always`: at once; BCSO into
Isleta `pilot_confirm`: held for BCSO's pilot), with the call shared with the drone's agency and the
dispatch audited with both agencies."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from dfr.auth import Role, write_users_file
from dfr.cli import server_app
from dfr.loopback import free_udp_block
from dfr.settings import Settings
from tests import simulator
from tests.api.conftest import wait_ready
from tests.api.test_agencies_api import ALBUQUERQUE, SCENES
from tests.api.test_two_servers import until_seen_linked

PASSWORD = "two-server-agency-pw"
USERS = {
    "bcso-disp": (Role.DISPATCHER, "bcso"),
    "isleta-disp": (Role.DISPATCHER, "isleta"),
    "admin": (Role.ADMIN, None),
}


@contextmanager
def two_servers(tmp: Path, url: str) -> Iterator[tuple[TestClient, TestClient]]:
    """Albuquerque's drones simulated and linked by the first server; the second none."""
    users = tmp / "users.toml"
    write_users_file(users, {n: (r, PASSWORD, a, ()) for n, (r, a) in USERS.items()})

    def settings(name: str, simulate: bool) -> Settings:
        return Settings(
            deployment=ALBUQUERQUE,
            state_dir=tmp / name,
            users_file=users,
            database=url,
            server_id=f"server-{name}",
            simulate=simulate,
            sim_speed_factor=simulator.SERVER_SPEED_FACTOR,
            sim_port_base=free_udp_block(4),
            telemetry_push_hz=4.0,
        )

    with TestClient(server_app(settings("a", True))) as a:
        wait_ready(a)
        with TestClient(server_app(settings("b", False))) as b:
            until_seen_linked(b, login(b, "admin"), "server-a")
            yield a, b


def login(client: TestClient, name: str) -> dict[str, str]:
    answer = client.post("/api/login", json={"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def until_state(client: TestClient, sortie_id: int, headers: dict[str, str]) -> str:
    """The sortie's state once the linking server has taken it up (no longer reserved)."""
    deadline = time.monotonic() + 120
    while (state := client.get(f"/api/sorties/{sortie_id}", headers=headers).json()["state"]) == (
        "reserved"
    ):
        assert time.monotonic() < deadline, f"sortie {sortie_id} never taken up"
        time.sleep(0.2)
    return str(state)


def test_mutual_aid_through_the_server_without_the_drone(tmp_path, postgres_url) -> None:
    with two_servers(tmp_path, postgres_url) as (_, b):
        admin = login(b, "admin")
        sent = {}
        for agency, station in (("bcso", "apd-downtown"), ("isleta", "bcso-south-valley")):
            who = login(b, f"{agency}-disp")
            lat, lon = SCENES[agency]
            body = {"latitude_deg": lat, "longitude_deg": lon, "priority": 1}
            call = b.post("/api/calls", json=body, headers=who).json()
            assert call["agency"] == agency
            answer = b.post(
                f"/api/calls/{call['id']}/dispatch", json={"station_id": station}, headers=who
            )
            assert answer.status_code == 200, answer.text
            sent[agency] = (call["id"], answer.json()["sortie"]["id"])

        # APD into BCSO: always, so launched by the server linking APD's drone.
        call_id, sortie_id = sent["bcso"]
        assert until_state(b, sortie_id, admin) not in ("awaiting_pilot", "fault")
        # BCSO into Isleta: held for BCSO's pilot.
        isleta_call, held = sent["isleta"]
        assert until_state(b, held, admin) == "awaiting_pilot"

        for call, sortie, owner in ((call_id, sortie_id, "apd"), (isleta_call, held, "bcso")):
            shared = b.get(f"/api/calls/{call}", headers=admin).json()["shared_with"]
            assert shared == [owner], (call, shared)
            entries = b.get("/api/audit", params={"limit": 5000}, headers=admin).json()
            aid = [
                e
                for e in entries
                if e["action"] == "mutual_aid.dispatch" and e["details"]["sortie_id"] == sortie
            ]
            assert len(aid) == 1, aid
            assert aid[0]["details"]["agencies"][0] == owner
