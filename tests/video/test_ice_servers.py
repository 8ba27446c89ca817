"""The STUN and TURN servers handed to viewers: each TURN credential names its viewer
and its expiry, and the WHEP answer's Link headers say the same as the JSON."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from web.video.ice_servers import IceServers

STUN = "stun:stun.example.org:3478"
TURN = ("turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349")


def test_none_unless_configured() -> None:
    assert IceServers().for_peer("rtcc") == ()


def test_stun_alone_needs_no_credential() -> None:
    (stun,) = IceServers(stun_urls=(STUN,)).for_peer("rtcc")
    assert stun.as_json() == {"urls": [STUN]}
    assert stun.link_headers() == [f'<{STUN}>; rel="ice-server"']


def test_a_turn_credential_names_its_viewer_and_expires() -> None:
    servers = IceServers((STUN,), TURN, "shared-secret", credential_ttl_s=900.0)
    _, turn = servers.for_peer("officer-link:disp", now_s=1000.4)
    assert turn.urls == TURN
    assert turn.username == "1900:officer-link:disp"
    expected = hmac.new(b"shared-secret", b"1900:officer-link:disp", hashlib.sha1).digest()
    assert turn.credential == base64.b64encode(expected).decode()
    assert turn.link_headers() == [
        f'<{url}>; rel="ice-server"; username="1900:officer-link:disp";'
        f' credential="{turn.credential}"; credential-type="password"'
        for url in TURN
    ]


def test_a_name_cannot_break_out_of_its_quotes() -> None:
    _, turn = IceServers((STUN,), TURN, "s").for_peer('x"; rel="evil', now_s=0.0)
    assert turn.username == "3600:x___rel__evil"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"stun_urls": ("http://stun.example.org",)}, "starts with stun:"),
        ({"turn_urls": ("turn.example.org",)}, "starts with stun:"),
        ({"turn_urls": TURN}, "need the secret"),
    ],
)
def test_refused_settings(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IceServers(**settings)
