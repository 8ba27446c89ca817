"""Debian's Chromium for the browser tests, and the flags every test launches it with."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Nothing leaves the machine: no update checks, no sync, no component downloads.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebRTC on loopback, with plain addresses rather than mDNS names, autoplaying.
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
]
