"""`[tak]` in a deployment file: off when absent, loaded into TakSettings with its files
found next to the deployment, and refused with the field named when it is wrong."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dfr.deployment import DeploymentError, TakSettings, load_deployment
from dfr.tak_link import pytak_config
from tests.deployments import edited_pueblo

TLS = """
[tak]
url = "tls://tak.example.org:8089"
client_cert = "certs/dfr.pem"
client_key = "certs/dfr.key"
ca_cert = "certs/ca.pem"
"""


def with_tak(folder: Path, section: str) -> Path:
    """Pueblo with `section` appended, and the certificate files it may name."""
    toml = edited_pueblo(folder)
    (folder / "certs").mkdir(exist_ok=True)
    for name in ("dfr.pem", "dfr.key", "ca.pem", "dfr.p12"):
        (folder / "certs" / name).write_text("not read at load\n")
    toml.write_text(toml.read_text() + section)
    return toml


def test_without_a_tak_section_nothing_is_sent() -> None:
    assert load_deployment().tak is None


def test_a_tls_server_with_a_client_certificate_loads_with_defaults(tmp_path: Path) -> None:
    tak = load_deployment(with_tak(tmp_path, TLS)).tak
    assert isinstance(tak, TakSettings)
    assert tak.scheme == "tls"
    assert tak.address == "tak.example.org:8089"
    assert tak.client_cert == (tmp_path / "certs" / "dfr.pem").resolve()
    assert tak.client_key == (tmp_path / "certs" / "dfr.key").resolve()
    assert tak.ca_cert == (tmp_path / "certs" / "ca.pem").resolve()
    assert (tak.track_rate_hz, tak.track_stale_s, tak.call_stale_s) == (1.0, 5.0, 600.0)
    assert tak.uid_prefix == "dfr-pueblo-police-department"
    assert tak.video_rtsp == {}
    assert tak.geoid_height_m == 0.0
    assert "tls://tak.example.org:8089" in tak.describe()


def test_everything_set(tmp_path: Path) -> None:
    section = """
[tak]
url = "udp://239.2.3.1"
track_rate_hz = 2
track_stale_s = 3
call_stale_s = 120
uid_prefix = "pueblo-dfr"
geoid_height_m = -21.4
[tak.video_rtsp]
"dfr-1" = "rtsp://video.example.org:8554/dfr-1"
"""
    tak = load_deployment(with_tak(tmp_path, section)).tak
    assert tak is not None
    assert tak.address == "239.2.3.1:6969"  # the scheme's port when none is given
    assert (tak.track_rate_hz, tak.track_stale_s, tak.call_stale_s) == (2.0, 3.0, 120.0)
    assert tak.uid_prefix == "pueblo-dfr"
    assert tak.geoid_height_m == -21.4
    assert tak.video_rtsp == {"dfr-1": "rtsp://video.example.org:8554/dfr-1"}
    assert "video of: dfr-1" in tak.describe()


def test_a_pkcs12_certificate_needs_no_separate_key(tmp_path: Path) -> None:
    section = TLS.replace('client_cert = "certs/dfr.pem"\nclient_key = "certs/dfr.key"\n', "")
    section = section.replace("[tak]\n", '[tak]\nclient_cert = "certs/dfr.p12"\n')
    tak = load_deployment(with_tak(tmp_path, section)).tak
    assert tak is not None
    assert tak.client_key is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("tls://tak.example.org:8089", "http://tak.example.org", ["tak.url", "tls://, tcp://"]),
        ("tls://tak.example.org:8089", "tls://user:pw@tak.example.org", ["credentials"]),
        ("tls://tak.example.org:8089", "tls://tak.example.org:8089/x", ["nothing more"]),
        ("tls://tak.example.org:8089", "tls://tak.example.org:99999", ["0..65535"]),
        ('client_cert = "certs/dfr.pem"\n', "", ["'tak'", "needs client_cert"]),
        ('client_key = "certs/dfr.key"\n', "", ["needs client_key", ".p12"]),
        ('ca_cert = "certs/ca.pem"\n', "", ["needs ca_cert"]),
        ("certs/ca.pem", "certs/missing.pem", ["tak.ca_cert", "no file", "missing.pem"]),
        ("certs/dfr.pem", "../elsewhere/dfr.pem", ["tak.client_cert", "no file"]),
        ("[tak]\n", "[tak]\ntrack_rate_hz = 0\n", ["tak.track_rate_hz", "greater than or equal"]),
        ("[tak]\n", "[tak]\ntrack_rate_hz = 50\n", ["tak.track_rate_hz", "less than or equal"]),
        ("[tak]\n", "[tak]\ntrack_rate_hz = nan\n", ["tak.track_rate_hz"]),
        (
            "[tak]\n",
            "[tak]\ntrack_rate_hz = 0.1\ntrack_stale_s = 5\n",
            ["track_stale_s (5) is shorter", "10 s"],
        ),
        ("[tak]\n", "[tak]\ncall_stale_s = 1\n", ["tak.call_stale_s"]),
        ("[tak]\n", "[tak]\ngeoid_height_m = 300\n", ["tak.geoid_height_m"]),
        ("[tak]\n", "[tak]\ngeoid_height_m = inf\n", ["tak.geoid_height_m"]),
        ("[tak]\n", '[tak]\nuid_prefix = "has space"\n', ["tak.uid_prefix"]),
        ("[tak]\n", "[tak]\ncolour = 1\n", ["tak.colour", "unknown key"]),
        (
            "[tak]\n",
            '[tak]\nvideo_rtsp = { "dfr-9" = "rtsp://v.example.org/9" }\n',
            ["tak.video_rtsp", "no drone 'dfr-9'", "'dfr-1'"],
        ),
        (
            "[tak]\n",
            '[tak]\nvideo_rtsp = { "dfr-1" = "http://v.example.org/1" }\n',
            ["tak.video_rtsp", "rtsp://"],
        ),
        (
            "[tak]\n",
            '[tak]\nvideo_rtsp = { "dfr-1" = "rtsp://u:p@v.example.org/1" }\n',
            ["tak.video_rtsp", "credentials"],
        ),
    ],
)
def test_a_bad_tak_section_names_the_field(
    tmp_path: Path, old: str, new: str, expected: list[str]
) -> None:
    assert old in TLS
    toml = with_tak(tmp_path, TLS.replace(old, new, 1))
    with pytest.raises(DeploymentError) as err:
        load_deployment(toml)
    message = str(err.value)
    assert message.startswith(str(toml))
    for part in expected:
        assert part in message, message


def test_certificate_fields_apply_to_tls_only(tmp_path: Path) -> None:
    section = TLS.replace("tls://tak.example.org:8089", "tcp://tak.example.org")
    with pytest.raises(DeploymentError, match="ca_cert and client_cert and client_key apply to"):
        load_deployment(with_tak(tmp_path, section))


def test_pytak_reads_the_settings_from_a_section_not_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COT_URL", "tcp://elsewhere.example.org:1")
    tak = load_deployment(with_tak(tmp_path, TLS)).tak
    assert tak is not None
    config = pytak_config(tak, "pass%word")
    assert config["COT_URL"] == "tls://tak.example.org:8089"
    assert config["PYTAK_TLS_CLIENT_CERT"] == str(tak.client_cert)
    assert config["PYTAK_TLS_CLIENT_KEY"] == str(tak.client_key)
    assert config["PYTAK_TLS_CLIENT_CAFILE"] == str(tak.ca_cert)
    # pytak copies these into a ConfigParser that interpolates: '%' reaches it doubled.
    assert config["PYTAK_TLS_CLIENT_PASSWORD"] == "pass%%word"
    udp = TakSettings(url="udp://239.2.3.1:6969")
    assert pytak_config(udp)["COT_URL"] == "udp+wo://239.2.3.1:6969"  # send only
    assert "PYTAK_TLS_CLIENT_CERT" not in pytak_config(udp)


def test_dfr_check_shows_the_tak_settings(tmp_path: Path) -> None:
    dfr = shutil.which("dfr", path=str(Path(sys.executable).parent)) or "dfr"
    toml = with_tak(tmp_path, TLS + '[tak.video_rtsp]\n"dfr-2" = "rtsp://v.example.org/2"\n')
    out = subprocess.run(
        [dfr, "check", "--deployment", str(toml)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert (
        "TAK out (Cursor on Target): tls://tak.example.org:8089 (client certificate dfr.pem, "
        "key dfr.key, CA ca.pem); tracks 1 Hz, stale 5 s; calls stale 600 s; "
        "uids dfr-pueblo-police-department.*; video of: dfr-2"
    ) in out.stdout
    off = subprocess.run([dfr, "check"], capture_output=True, text=True, timeout=300)
    assert "TAK out: off (no [tak] section)" in off.stdout
