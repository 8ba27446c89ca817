"""The server on PostgreSQL (`--database postgresql://…`): a call made and dispatched
through the API is a row in PostgreSQL, read with a connection of its own."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from dfr.cli import server_app
from tests.api.conftest import login, make_settings, wait_ready

SCENE = {"latitude_deg": 38.2590, "longitude_deg": -104.6050, "priority": 1, "summary": "alarm"}


def test_a_server_on_postgresql_keeps_its_calls_and_sorties_there(tmp_path, postgres_url) -> None:
    settings = make_settings(tmp_path, database=postgres_url)
    with TestClient(server_app(settings)) as client:
        wait_ready(client)
        disp = login(client, "disp")
        call = client.post("/api/calls", json=SCENE, headers=disp)
        assert call.status_code in (200, 201), call.text
        sent = client.post(f"/api/calls/{call.json()['id']}/dispatch", headers=disp)
        assert sent.status_code == 200, sent.text
        sortie_id = sent.json()["sortie"]["id"]
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT c.status, c.summary, s.drone_id FROM calls c JOIN sorties s"
            " ON s.call_id = c.id WHERE s.id = %s",
            (sortie_id,),
        ).fetchone()
        actions = [r[0] for r in conn.execute("SELECT action FROM audit ORDER BY id")]
    assert row == ("dispatched", "alarm", "dfr-1")
    assert {"call.create", "sortie.dispatch"} <= set(actions)
    assert not (settings.state_dir / "dfr.sqlite").exists()  # nothing went to SQLite
