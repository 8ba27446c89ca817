"""TAK settings: where and what dfr sends as Cursor on Target (see dfr.tak_out).

`TakSection` is the deployment file's `[tak]` as written; `TakSettings` is what it
becomes once its files are resolved against the deployment file and its drones checked
against the deployment's (`dfr.deployment_parts` builds it), with `default_uid_prefix`
when the file names no uid prefix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from dfr.deployment_sections import StrictModel

#: How dfr reaches a TAK server (`[tak] url`), and its port when the URL names none.
TAK_SCHEMES = {"tls": 8089, "tcp": 8087, "udp": 6969}
UidPrefix = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class TakSection(StrictModel):
    """`[tak]`: Cursor on Target out to a TAK Server, or to ATAK/WinTAK over UDP (see
    dfr.tak_out). Absent: nothing is sent."""

    #: tls://host:8089 (TAK Server with a client certificate), tcp://host:8087, or
    #: udp://239.2.3.1:6969 (ATAK's multicast picture; a unicast address works too).
    url: Annotated[str, Field(min_length=1, max_length=500)]
    #: The client certificate (PEM, or PKCS#12 `.p12` holding the key too), its key (PEM)
    #: and the CA that signed the TAK Server's certificate (PEM), for tls:// only; paths
    #: relative to the deployment file. A key's passphrase is the environment's
    #: DFR_TAK_KEY_PASSPHRASE, never this file.
    client_cert: Annotated[str, Field(min_length=1)] | None = None
    client_key: Annotated[str, Field(min_length=1)] | None = None
    ca_cert: Annotated[str, Field(min_length=1)] | None = None
    #: Drone tracks: at most this many per drone per second, each stale this long after.
    track_rate_hz: Annotated[float, Field(ge=0.1, le=10, allow_inf_nan=False)] = 1.0
    track_stale_s: Annotated[float, Field(ge=1, le=300, allow_inf_nan=False)] = 5.0
    #: Call markers and camera points of interest: stale this long after they were last
    #: sent (they are sent again well before, while the call is open).
    call_stale_s: Annotated[float, Field(ge=30, le=86400, allow_inf_nan=False)] = 600.0
    #: What every event's uid starts with (default: "dfr-" and the deployment's name).
    uid_prefix: UidPrefix | None = None
    #: Drone id → the RTSP URL of its video, sent as a `__video` element on its track.
    video_rtsp: dict[str, Annotated[str, Field(max_length=2000)]] = Field(default_factory=dict)
    #: The geoid's height above the WGS84 ellipsoid where the drones fly (EGM96's N, in
    #: metres; around -20 over Colorado, -30 over the East Coast): CoT's `hae` is
    #: height above the ellipsoid, the vehicles report height above mean sea level, and
    #: hae = AMSL + N. Across one city N varies by a metre or two at most.
    geoid_height_m: Annotated[float, Field(ge=-110, le=90, allow_inf_nan=False)] = 0.0

    @field_validator("url")
    @classmethod
    def _tak_url(cls, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in TAK_SCHEMES:
            raise ValueError("must be a tls://, tcp:// or udp:// URL (host:port)")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials")
        if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be scheme://host:port and nothing more")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise ValueError("has a port that is not 0..65535") from None
        return url

    @field_validator("video_rtsp")
    @classmethod
    def _rtsp_urls(cls, mapping: dict[str, str]) -> dict[str, str]:
        for drone_id, url in mapping.items():
            parts = urlsplit(url)
            if parts.scheme != "rtsp" or not parts.hostname:
                raise ValueError(f"{drone_id!r}: must be an rtsp:// URL with a host")
            if parts.username or parts.password:
                raise ValueError(f"{drone_id!r}: must not carry credentials (TAK clients see it)")
            try:
                parts.port  # noqa: B018 - raises ValueError for a port out of range
            except ValueError:
                raise ValueError(f"{drone_id!r}: has a port that is not 0..65535") from None
        return mapping

    @model_validator(mode="after")
    def _consistent(self) -> TakSection:
        scheme = urlsplit(self.url).scheme
        files = {"client_cert", "client_key", "ca_cert"} & self.model_fields_set
        if scheme != "tls" and files:
            raise ValueError(f"{' and '.join(sorted(files))} apply to tls:// only")
        if scheme == "tls":
            if self.client_cert is None:
                raise ValueError("tls:// needs client_cert (the TAK Server's client certificate)")
            if self.client_key is None and not self.client_cert.lower().endswith(".p12"):
                raise ValueError("tls:// needs client_key, unless client_cert is a .p12")
            if self.ca_cert is None:
                raise ValueError("tls:// needs ca_cert (the CA of the TAK Server's certificate)")
        if self.track_stale_s * self.track_rate_hz < 1:
            raise ValueError(
                f"track_stale_s ({self.track_stale_s:g}) is shorter than the time between "
                f"tracks (1/track_rate_hz = {1 / self.track_rate_hz:g} s)"
            )
        return self


@dataclass(frozen=True)
class TakSettings:
    """Where and what dfr sends as Cursor on Target (`[tak]`, see dfr.tak_out); its files
    resolved against the deployment file, its drones known to the deployment."""

    url: str
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_cert: Path | None = None
    track_rate_hz: float = 1.0
    track_stale_s: float = 5.0
    call_stale_s: float = 600.0
    uid_prefix: str = "dfr"
    video_rtsp: Mapping[str, str] = field(default_factory=dict)
    geoid_height_m: float = 0.0

    @property
    def scheme(self) -> str:
        """tls, tcp or udp."""
        return urlsplit(self.url).scheme

    @property
    def address(self) -> str:
        """host:port (the scheme's usual port when the URL names none)."""
        parts = urlsplit(self.url)
        port = parts.port or TAK_SCHEMES[parts.scheme]
        host = parts.hostname or ""
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def describe(self) -> str:
        """One line for `dfr check` and the logs."""
        what = f"{self.scheme}://{self.address}"
        if self.scheme == "tls":
            key = f", key {self.client_key.name}" if self.client_key is not None else ""
            ca = self.ca_cert.name if self.ca_cert is not None else "?"
            cert = self.client_cert.name if self.client_cert is not None else "?"
            what += f" (client certificate {cert}{key}, CA {ca})"
        video = ", ".join(sorted(self.video_rtsp)) or "none"
        return (
            f"{what}; tracks {self.track_rate_hz:g} Hz, stale {self.track_stale_s:g} s; "
            f"calls stale {self.call_stale_s:g} s; uids {self.uid_prefix}.*; video of: {video}"
        )


def default_uid_prefix(deployment_name: str) -> str:
    """The default uid prefix: `dfr-` and the deployment's name in lower case, its words
    joined by `-`.

    >>> default_uid_prefix("Pueblo Police Department")
    'dfr-pueblo-police-department'
    """
    words = re.findall(r"[a-z0-9]+", deployment_name.lower())
    return "-".join(["dfr", *words])[:64]
