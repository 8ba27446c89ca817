"""STUN and TURN servers for viewers outside the server's network (an officer's phone
on a cellular network, behind the carrier's NAT), with short-lived TURN credentials.

A TURN credential is minted per viewer as the TURN REST API does it (coturn's
`use-auth-secret`, with `static-auth-secret` shared with dfr): the username is
"<expiry, Unix seconds>:<who>" and the password is the base64 HMAC-SHA1 of the username
under the shared secret, so the TURN server checks it without asking dfr, and it stops
working at its expiry.

>>> servers = IceServers(("stun:stun.example.org",), ("turn:turn.example.org",), "s", 600.0)
>>> stun, turn = servers.for_peer("officer-link:disp", now_s=1_800_000_000.0)
>>> stun.as_json()
{'urls': ['stun:stun.example.org']}
>>> turn.username, turn.credential
('1800000600:officer-link:disp', 'QB33vGo17fVVgQ21fsa+QJaJiSk=')
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from dataclasses import dataclass

#: The URL schemes of RFC 7064 (STUN) and RFC 7065 (TURN).
ICE_URL_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
#: What a TURN username may hold of a name (it is quoted in a Link header).
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@-]")


@dataclass(frozen=True, slots=True)
class IceServer:
    """One entry of a peer connection's `iceServers`, as the browser takes it."""

    urls: tuple[str, ...]
    username: str | None = None
    credential: str | None = None

    def as_json(self) -> dict[str, object]:
        entry: dict[str, object] = {"urls": list(self.urls)}
        if self.username is not None:
            entry["username"] = self.username
            entry["credential"] = self.credential
        return entry

    def link_headers(self) -> list[str]:
        """The WHEP way of telling a player (draft-ietf-wish-whep, "STUN/TURN server
        configuration"): one `Link` value per URL."""
        out = []
        for url in self.urls:
            value = f'<{url}>; rel="ice-server"'
            if self.username is not None:
                value += (
                    f'; username="{self.username}"; credential="{self.credential}"'
                    '; credential-type="password"'
                )
            out.append(value)
        return out


@dataclass(frozen=True, slots=True)
class IceServers:
    """The servers a deployment's viewers and the relay use; none by default (viewers on
    the server's own network need none)."""

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    credential_ttl_s: float = 3600.0

    def __post_init__(self) -> None:
        for url in (*self.stun_urls, *self.turn_urls):
            if not url.startswith(ICE_URL_SCHEMES):
                raise ValueError(
                    f"{url!r}: an ICE server URL starts with stun:, stuns:, turn: or turns:"
                )
        if self.turn_urls and not self.turn_secret:
            raise ValueError("TURN servers need the secret shared with them (use-auth-secret)")

    @property
    def any(self) -> bool:
        return bool(self.stun_urls or self.turn_urls)

    def for_peer(self, who: str, now_s: float | None = None) -> tuple[IceServer, ...]:
        """The servers for one peer (`who`: a viewer's name, or the relay's own), with a
        TURN credential valid for `credential_ttl_s` from `now_s` (Unix seconds)."""
        servers = []
        if self.stun_urls:
            servers.append(IceServer(self.stun_urls))
        if self.turn_urls and self.turn_secret:
            now_s = time.time() if now_s is None else now_s
            username = f"{int(now_s + self.credential_ttl_s)}:{_UNSAFE.sub('_', who)}"
            digest = hmac.new(self.turn_secret.encode(), username.encode(), hashlib.sha1).digest()
            servers.append(IceServer(self.turn_urls, username, base64.b64encode(digest).decode()))
        return tuple(servers)
