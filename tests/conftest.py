"""Fixtures every part of the tests may use: a throwaway PostgreSQL (tests.postgres), and
`loopback_ice` for tests whose WebRTC viewers run in the test's own process."""

from collections.abc import Iterator

import pytest

from dfr.loopback import LOOPBACK

pytest_plugins = ["tests.postgres"]


@pytest.fixture
def loopback_ice() -> Iterator[None]:
    """The viewers in this process offer loopback candidates (a server on loopback keeps
    to it too), and every interface again afterwards."""
    from web.video.relay import use_ice_addresses

    use_ice_addresses((LOOPBACK,))
    yield
    use_ice_addresses(None)
