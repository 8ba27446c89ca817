"""GET /api/drones/{id}/eta-calibration: the ETA figures each drone is ranked by, from a
real server whose database already holds one drone's calibration (as a restart finds it),
and the recommendation saying which ETA is calibrated."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from dfr.deployment import load_deployment
from dfr.eta_calibration import DroneEta
from dfr.eta_store import EtaStore
from dfr.settings import Settings
from dfr.store import Store
from tests.api.conftest import login, make_settings

CALL = {"latitude_deg": 38.2400, "longitude_deg": -104.6200, "priority": 1, "summary": "x"}


async def calibrate_dfr_2(settings: Settings) -> None:
    """What a server that has flown dfr-2 seven times leaves in its database."""
    settings.database_path.parent.mkdir(parents=True, exist_ok=True)
    defaults = load_deployment(None).eta
    mine = DroneEta(replace(defaults, launch_latency_s=6.5, horizontal_accel_m_s2=1.3), True, 7)
    async with Store.open(settings.database_path) as store:
        section = await EtaStore.attach(store)
        await section.save("dfr-2", mine, DroneEta(defaults))


@pytest.fixture(scope="module")
def api_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = make_settings(tmp_path_factory.mktemp("api-eta"))
    asyncio.run(calibrate_dfr_2(settings))
    return settings


def test_each_drone_shows_the_figures_it_is_ranked_by(client) -> None:
    pilot = login(client, "pilot")
    default = client.get("/api/drones/dfr-1/eta-calibration", headers=pilot)
    assert default.status_code == 200
    assert default.json() == {
        "drone_id": "dfr-1",
        "station_id": "hq",
        "calibrated": False,
        "flights": 0,
        "samples": 0,
        "launch_latency_s": 1.8,
        "horizontal_accel_m_s2": 2.215,
        "calibrate_after_flights": 5,
        "flights_kept": 20,
        "deployment": {"launch_latency_s": 1.8, "horizontal_accel_m_s2": 2.215},
    }
    for role in ("disp", "rtcc", "admin"):
        mine = client.get("/api/drones/dfr-2/eta-calibration", headers=login(client, role))
        assert mine.status_code == 200
        body = mine.json()
        assert (body["station_id"], body["calibrated"], body["flights"]) == ("bessemer", True, 7)
        assert (body["launch_latency_s"], body["horizontal_accel_m_s2"]) == (6.5, 1.3)


def test_unknown_drones_strangers_and_share_links_are_refused(client) -> None:
    disp = login(client, "disp")
    missing = client.get("/api/drones/dfr-9/eta-calibration", headers=disp)
    assert missing.status_code == 404
    assert missing.json() == {"detail": "no drone 'dfr-9'"}
    assert client.get("/api/drones/dfr-1/eta-calibration").status_code == 401
    call = client.post("/api/calls", json=CALL, headers=disp).json()
    link = client.post(f"/api/calls/{call['id']}/share", headers=disp).json()
    officer = {"Authorization": f"Bearer {link['token']}"}
    assert client.get("/api/drones/dfr-1/eta-calibration", headers=officer).status_code == 403


def test_the_recommendation_says_which_eta_is_calibrated(client) -> None:
    disp = login(client, "disp")
    call = client.post("/api/calls", json=CALL, headers=disp).json()
    rec = client.get(f"/api/calls/{call['id']}/recommendation", headers=disp).json()
    ranked = {c["drone_id"]: c for c in rec["candidates"]}
    assert (ranked["dfr-2"]["eta_calibrated"], ranked["dfr-2"]["eta_flights"]) == (True, 7)
    assert (ranked["dfr-1"]["eta_calibrated"], ranked["dfr-1"]["eta_flights"]) == (False, 0)
