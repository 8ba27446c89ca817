"""A deployment with its own tile server: the maps show its tiles and credit them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.deployments import edited_pueblo
from tests.web.conftest import Browser, LiveServer, running_server

pytestmark = pytest.mark.browser

# Any image the server itself serves stands in for a tile server on loopback.
TILE_URL = "/vendor/leaflet/images/layers.png?z={z}&x={x}&y={y}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The Pueblo deployment with `tile_url` set."""
    folder = tmp_path_factory.mktemp("tiles")
    toml = edited_pueblo(folder, r"^(launch_policy\s*=.*)$", rf'\1\ntile_url = "{TILE_URL}"')
    with running_server(folder / "state", deployment=toml) as live:
        yield live


def test_maps_show_the_tiles_and_their_attribution(browser: Browser, server: LiveServer) -> None:
    page = browser.new_page()
    browser.login(page, "dispatcher")
    page.click("[data-console=dispatcher]")
    page.wait_for_selector("#map .leaflet-tile-loaded")
    attribution = page.locator("#map .leaflet-control-attribution")
    assert attribution.is_visible()
    assert attribution.inner_text() == "Map tiles: 127.0.0.1"
    assert "no-tiles" not in (page.get_attribute("#map", "class") or "")

    # OpenStreetMap's tiles carry its licence notice, with a link to it.
    credit = page.evaluate(
        """() => import("/static/map.js").then((m) =>
            m.tileAttribution("https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png"))"""
    )
    assert "OpenStreetMap</a> contributors" in credit
    assert "openstreetmap.org/copyright" in credit
    browser.screenshot(page, "dispatcher-tiles")
    browser.assert_clean()
