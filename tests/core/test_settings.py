"""Every setting reaches the part it is for: one mapping, and the link-loss time is one number."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

import pytest

from dfr.auth import BadToken, Role, User, write_users_file
from dfr.cli import vehicles_for
from dfr.loopback import free_udp_port
from dfr.services import open_accounts
from dfr.settings import Settings
from stations.fleet import Fleet
from tests.flight.conftest import station


def test_environment_variables_with_the_dfr_prefix(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("DFR_LINK_LOST_AFTER_S", "4.5")
    monkeypatch.setenv("DFR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DFR_SIMULATE", "false")
    settings = Settings()
    assert settings.link_lost_after_s == 4.5
    assert settings.database_path == tmp_path / "dfr.sqlite"
    assert settings.users_path == tmp_path / "users.toml"
    assert not settings.simulate
    assert settings.database_target == str(tmp_path / "dfr.sqlite")


def test_the_database_is_the_state_dirs_file_another_file_or_a_postgresql_url(
    monkeypatch, tmp_path
) -> None:
    monkeypatch.setenv("DFR_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("DFR_DATABASE", "postgresql://dfr@db.example/dfr")
    settings = Settings()
    assert settings.database_is_postgres
    assert settings.database_target == "postgresql://dfr@db.example/dfr"
    assert settings.audit_checkpoints_path.parent == tmp_path  # the files stay in state_dir
    elsewhere = Settings(database=str(tmp_path / "other.sqlite"))
    assert not elsewhere.database_is_postgres
    assert elsewhere.database_path == tmp_path / "other.sqlite"
    assert elsewhere.database_target == str(tmp_path / "other.sqlite")


def test_link_loss_is_one_number_for_the_fleet_and_the_sortie() -> None:
    settings = Settings(link_lost_after_s=2.5, drone_connect_timeout_s=7.0)
    assert settings.fleet_settings().link_loss_s == 2.5
    assert settings.executor_settings().link_loss_wall_s == 2.5
    assert settings.fleet_settings().link.connect_timeout_s == 7.0
    assert settings.fleet_settings().link.mavlink_timeout_s == 0.5  # as MAVSDK
    assert Settings(mavlink_timeout_s=4).fleet_settings().link.mavlink_timeout_s == 4


@pytest.mark.parametrize(
    "bad", [{"link_lost_after_s": 0}, {"drone_connect_timeout_s": -1}, {"mavlink_timeout_s": 0}]
)
def test_times_must_be_positive(bad) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        Settings(**bad)


async def test_the_connect_timeout_limits_each_attempt_to_reach_a_drone() -> None:
    settings = Settings(drone_connect_timeout_s=0.3)
    ghost = station("ghost", f"udpin://127.0.0.1:{free_udp_port()}")
    started = time.monotonic()
    async with Fleet.running([ghost], settings.fleet_settings()) as fleet:
        while "within" not in (fleet.availability("ghost").reason or ""):  # noqa: ASYNC110
            assert time.monotonic() - started < 5.0
            await asyncio.sleep(0.05)
        assert "within 0.3 s" in (fleet.availability("ghost").reason or "")


def test_simulator_settings_choose_the_vehicles() -> None:
    assert vehicles_for(simulate=False, speed_factor=3.0, port_base=20000) is None
    provider = vehicles_for(simulate=True, speed_factor=3.0, port_base=20000)
    assert isinstance(provider, functools.partial)
    assert provider.keywords == {"speed_factor": 3.0, "api_port_base": 20000}
    px4 = vehicles_for(simulate=True, speed_factor=2.0, port_base=20000, px4=True)
    assert isinstance(px4, functools.partial)
    assert px4.keywords == {"speed_factor": 2.0}


def test_accounts_from_the_users_file_secret_and_token_lifetimes(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    write_users_file(users, {"pat": (Role.PILOT, "pw")})
    settings = Settings(
        state_dir=tmp_path / "state",
        users_file=users,
        secret_key="k1",
        session_ttl_s=60.0,
        share_link_ttl_s=30.0,
    )
    directory, tokens = open_accounts(settings)
    assert directory.authenticate("pat", "pw").role is Role.PILOT
    assert tokens.session_ttl_s == 60.0
    assert tokens.share_link_ttl_s == 30.0
    token = tokens.session(User("pat", Role.PILOT, ""))
    _, other = open_accounts(settings.model_copy(update={"secret_key": "k2"}))
    assert tokens.verify(token).name == "pat"
    with pytest.raises(BadToken, match="invalid token"):
        other.verify(token)
    assert not (tmp_path / "state" / "secret.key").exists()  # the given key is used


def test_demo_users_and_secret_are_made_once_in_the_state_dir(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path)
    directory, _ = open_accounts(settings)
    assert len(directory) == 5  # dispatcher, pilot, officer, rtcc, admin
    key = (tmp_path / "secret.key").read_text()
    passwords = (tmp_path / "demo-passwords.txt").read_text()
    open_accounts(settings)
    assert (tmp_path / "secret.key").read_text() == key
    assert (tmp_path / "demo-passwords.txt").read_text() == passwords


def test_video_ice_servers_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DFR_VIDEO_STUN_URLS", '["stun:stun.example.org:3478"]')
    monkeypatch.setenv("DFR_VIDEO_TURN_URLS", '["turn:turn.example.org:3478?transport=udp"]')
    monkeypatch.setenv("DFR_VIDEO_TURN_SECRET", "a-secret-of-16-chars-or-more")
    s = Settings()
    assert s.video_stun_urls == ("stun:stun.example.org:3478",)
    assert s.video_turn_urls == ("turn:turn.example.org:3478?transport=udp",)
    assert s.video_turn_credential_ttl_s == 3600.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"video_stun_urls": ("turn:x",)}, "is not a stun or stuns URL"),
        ({"video_turn_urls": ("http://x",)}, "is not a turn or turns URL"),
        ({"video_turn_urls": ("turn:",)}, "is not a turn or turns URL"),
        ({"video_turn_urls": ("turn:x",)}, "need video_turn_secret"),
        ({"video_turn_urls": ("turn:x",), "video_turn_secret": "short"}, "at least 16"),
        ({"video_turn_credential_ttl_s": 1}, "greater than or equal to 60"),
    ],
)
def test_video_ice_servers_refused(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings(**bad)


@pytest.mark.parametrize(
    "written",
    [
        "stun:a.example.org:3478, stun:b.example.org",
        '["stun:a.example.org:3478", "stun:b.example.org"]',
    ],
)
def test_ice_urls_as_a_list_or_with_commas(monkeypatch: pytest.MonkeyPatch, written: str) -> None:
    monkeypatch.setenv("DFR_VIDEO_STUN_URLS", written)
    assert Settings().video_stun_urls == ("stun:a.example.org:3478", "stun:b.example.org")
