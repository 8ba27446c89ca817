"""The one settings object (environment variables with the DFR_ prefix), built in main(),
and the one mapping from it to each subsystem's own settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from dfr.db_connection import is_postgres
from dfr.eido_subscriber import SubscriberSettings
from dfr.flight_executor import ExecutorSettings
from dfr.link_leases import LeaseSettings
from dfr.tak_link import TakLinkSettings
from missions.mission_plan import FlightSettings
from stations.drone_link import LinkSettings
from stations.fleet import FleetSettings


class Settings(BaseSettings):
    """Server and fleet settings; times carry their unit in the name."""

    model_config = SettingsConfigDict(env_prefix="DFR_", frozen=True)

    deployment: Path | None = None  # None: the built-in Pueblo deployment
    state_dir: Path = Path("var")  # SQLite file, users file, secret key, recordings
    #: The store: a PostgreSQL URL (postgresql://…: one database several servers share) or
    #: an SQLite file; None: <state_dir>/dfr.sqlite. The other files stay in state_dir.
    database: str | None = None
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    #: HTTPS: the server's certificate (PEM, its chain after it) and private key; None:
    #: plain HTTP, for loopback or behind a reverse proxy that terminates TLS. Officers'
    #: phones share their location ("Drone to me") only with an HTTPS page.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_key_password: str | None = None

    simulate: bool = True  # start the built-in simulated drones at the station homes
    sim_speed_factor: float = Field(1.0, gt=0, le=50)
    sim_port_base: int = 14540  # simulated drone i talks to sim_port_base + i

    users_file: Path | None = None  # None: <state_dir>/users.toml, created with demo users
    secret_key: str | None = None  # None: <state_dir>/secret.key, created once
    session_ttl_s: float = 12 * 3600
    share_link_ttl_s: float = 4 * 3600
    cad_webhook_token: str | None = None  # shared secret CAD/gunshot systems send as X-DFR-Token
    #: With agencies: each agency's own webhook secret, {"apd": "...", ...} (JSON in
    #: DFR_AGENCY_WEBHOOK_TOKENS); a call sent with one reports to that agency.
    agency_webhook_tokens: dict[str, str] = Field(default_factory=dict)
    #: The bearer token of the NENA-STA-024 EIDO server the deployment's [eido]
    #: subscribe_url names (none: no Authorization header), and the delays between
    #: attempts to reach it: doubling from the first to the last.
    eido_subscribe_token: str | None = None
    eido_reconnect_min_s: float = Field(1.0, gt=0)
    eido_reconnect_max_s: float = Field(60.0, gt=0)
    #: The passphrase of the deployment's [tak] client key (none: the key is not
    #: encrypted), and the delays between attempts to reach the TAK server: doubling
    #: from the first to the last.
    tak_key_passphrase: str | None = Field(None, repr=False)
    tak_reconnect_min_s: float = Field(1.0, gt=0)
    tak_reconnect_max_s: float = Field(60.0, gt=0)

    #: Request bodies larger than this are refused (413) while they are read.
    json_body_limit_bytes: int = Field(64 * 1024, ge=1024)
    sdp_body_limit_bytes: int = Field(256 * 1024, ge=1024)  # WHEP offers

    #: Denied (401 with a bad token, 403) and refused attempts are audited one by one up
    #: to this many per client address in each window; more are counted, and summarised
    #: in one entry when the window ends.
    refusals_audited_per_address: int = Field(20, ge=1)
    refusal_audit_window_s: float = Field(60.0, gt=0)
    #: Live video viewers (WHEP sessions) one session or share link may hold at once.
    max_viewers_per_token: int = Field(4, ge=1)
    #: Fixed cameras' viewers one session may hold at once, besides the drones' (the wall
    #: shows up to `[cameras] per_call` cameras for each call a drone serves).
    max_camera_viewers_per_token: int = Field(16, ge=1)
    #: The audit chain's last entry is signed every this many entries (and at start and
    #: stop): a checkpoint in the database and in <state_dir>/audit-checkpoints.jsonl.
    audit_checkpoint_every: int = Field(100, ge=1)
    #: The server applies the deployment's [retention] this long after it starts, then
    #: every `retention_interval_s`.
    retention_first_run_s: float = Field(60.0, ge=0)
    retention_interval_s: float = Field(86400.0, gt=0)

    #: On PostgreSQL, servers share the drones: each drone is linked by the one server
    #: holding its lease (dfr.link_leases), renewed every `link_lease_renew_s`; one not
    #: renewed for `link_lease_ttl_s` goes to another server.
    link_lease_ttl_s: float = Field(5.0, ge=2)
    link_lease_renew_s: float = Field(1.0, gt=0)
    #: This server's name among the servers sharing a database (None: host:pid:random).
    server_id: str | None = Field(None, min_length=1, max_length=200)

    telemetry_push_hz: float = Field(4.0, gt=0, le=50)
    drone_connect_timeout_s: float = Field(15.0, gt=0)  # each attempt to reach a drone
    #: Wait for each answer of a MAVLink transfer (mission item, parameter) this long
    #: before sending again; raise it for links with long latency.
    mavlink_timeout_s: float = Field(0.5, gt=0, le=30)
    #: No telemetry for this long (wall seconds, by message arrival) and a drone's link
    #: counts as lost: for the fleet's availability and for a sortie in flight alike.
    link_lost_after_s: float = Field(3.0, gt=0)
    video_fps: int = Field(30, ge=1, le=60)
    video_width: int = 1280
    video_height: int = 720
    #: STUN and TURN servers for viewers the relay cannot reach directly (officers' phones
    #: on a cellular network): URLs (stun:host:port, turn:host:port?transport=udp...),
    #: separated by commas or as a JSON list.
    #: TURN takes credentials minted per viewer under `video_turn_secret`, the secret the
    #: TURN server shares (coturn: use-auth-secret, static-auth-secret), each valid for
    #: `video_turn_credential_ttl_s`.
    video_stun_urls: Annotated[tuple[str, ...], NoDecode] = ()
    video_turn_urls: Annotated[tuple[str, ...], NoDecode] = ()
    video_turn_secret: str | None = Field(None, min_length=16)
    video_turn_credential_ttl_s: float = Field(3600.0, ge=60, le=7 * 86400)

    @field_validator("video_stun_urls", "video_turn_urls", mode="before")
    @classmethod
    def _url_list(cls, value: object) -> object:
        """A variable's text: a JSON list, or URLs separated by commas."""
        if not isinstance(value, str):
            return value
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list of URLs ({exc})") from exc
        return tuple(url.strip() for url in value.split(",") if url.strip())

    @field_validator("video_stun_urls", "video_turn_urls")
    @classmethod
    def _ice_urls(cls, urls: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        scheme = (
            ("stun:", "stuns:") if info.field_name == "video_stun_urls" else ("turn:", "turns:")
        )
        for url in urls:
            if not url.startswith(scheme) or len(url) <= len(url.split(":")[0]) + 1:
                raise ValueError(f"{url!r} is not a {' or '.join(s[:-1] for s in scheme)} URL")
        return urls

    @model_validator(mode="after")
    def _tls_needs_both_files(self) -> Self:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together (HTTPS needs both)")
        if self.tls_key_password is not None and self.tls_key_file is None:
            raise ValueError("tls_key_password without tls_key_file")
        return self

    @property
    def https(self) -> bool:
        return self.tls_cert_file is not None

    @model_validator(mode="after")
    def _turn_needs_its_secret(self) -> Self:
        if self.video_turn_urls and not self.video_turn_secret:
            raise ValueError(
                "video_turn_urls need video_turn_secret (the TURN server's shared secret)"
            )
        return self

    @property
    def database_target(self) -> str:
        """What `Store.open` takes: the PostgreSQL URL, or the SQLite file's path."""
        return self.database or str(self.database_path)

    @property
    def database_path(self) -> Path:
        """The SQLite file: the one `database` names, or <state_dir>/dfr.sqlite."""
        if self.database and not is_postgres(self.database):
            return Path(self.database)
        return self.state_dir / "dfr.sqlite"

    @property
    def database_is_postgres(self) -> bool:
        return self.database is not None and is_postgres(self.database)

    @property
    def recordings_dir(self) -> Path:
        return self.state_dir / "recordings"

    @property
    def audit_signing_key_path(self) -> Path:
        """The audit checkpoints' private key (0600); its public half is next to it."""
        return self.state_dir / "audit-signing.key"

    @property
    def audit_public_key_path(self) -> Path:
        return self.audit_signing_key_path.with_suffix(".pub")

    @property
    def audit_checkpoints_path(self) -> Path:
        """Every audit checkpoint, a JSON line each: copy it elsewhere as it grows."""
        return self.state_dir / "audit-checkpoints.jsonl"

    # -- each subsystem's settings, from this one object ---------------------------

    def lease_settings(self) -> LeaseSettings:
        renew_s = min(self.link_lease_renew_s, self.link_lease_ttl_s / 3)
        return LeaseSettings(ttl_s=self.link_lease_ttl_s, renew_s=renew_s)

    def fleet_settings(self) -> FleetSettings:
        link = LinkSettings(
            connect_timeout_s=self.drone_connect_timeout_s,
            mavlink_timeout_s=self.mavlink_timeout_s,
        )
        return FleetSettings(link=link, link_loss_s=self.link_lost_after_s)

    def executor_settings(self, flight: FlightSettings | None = None) -> ExecutorSettings:
        """The flight executor's settings; `flight`: the deployment's PX4 behaviour."""
        return ExecutorSettings(
            flight=flight or FlightSettings(), link_loss_wall_s=self.link_lost_after_s
        )

    def eido_subscriber_settings(self, url: str) -> SubscriberSettings:
        """The EIDO subscriber's settings, for the deployment's `subscribe_url`."""
        return SubscriberSettings(
            url,
            token=self.eido_subscribe_token,
            reconnect_min_s=self.eido_reconnect_min_s,
            reconnect_max_s=max(self.eido_reconnect_min_s, self.eido_reconnect_max_s),
        )

    def tak_link_settings(self) -> TakLinkSettings:
        """The TAK link's settings (the deployment's [tak] says where to)."""
        return TakLinkSettings(
            key_passphrase=self.tak_key_passphrase,
            reconnect_min_s=self.tak_reconnect_min_s,
            reconnect_max_s=max(self.tak_reconnect_min_s, self.tak_reconnect_max_s),
        )

    @property
    def users_path(self) -> Path:
        return self.users_file or self.state_dir / "users.toml"
