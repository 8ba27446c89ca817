"""A throwaway PostgreSQL cluster for the test session, from Debian's binaries.

`postgres_cluster` starts one (initdb into a temporary directory, listening on 127.0.0.1
on a free port and a socket in that directory only; as the `postgres` user when the tests
run as root, since initdb refuses root) and stops it after the session. `postgres_url`
gives each test a fresh database in it; `store_url` is parametrized over both stores
(`sqlite`, `postgresql`), for the tests of the store itself. Without PostgreSQL's
binaries the PostgreSQL cases skip, saying why; under CI (CI=true) they fail instead:
CI must not silently leave them out.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

SERVICE_USER = "postgres"
_databases = itertools.count(1)


def postgres_bin() -> Path | None:
    """The newest of Debian's PostgreSQL binary directories that has initdb and pg_ctl."""
    found = [
        Path(d)
        for d in glob.glob("/usr/lib/postgresql/*/bin")
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists()
    ]
    return max(found, key=lambda d: int(d.parent.name), default=None) if found else None


def _missing(why: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{why}: CI runs the PostgreSQL tests (make system-deps installs it)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of its own: `start`, `url(database)`, `stop`."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="dfr-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.root, SERVICE_USER, SERVICE_USER)
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        name = f"dfr_test_{os.getpid()}_{next(_databases)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        _missing("PostgreSQL's binaries are missing (apt-get install postgresql)")
    assert bin_dir is not None
    cluster = Cluster(bin_dir)
    try:
        cluster.start()
    except (subprocess.CalledProcessError, OSError) as exc:
        log = cluster.root / "server.log"
        detail = getattr(exc, "stderr", b"") or b""
        if log.exists():
            detail += log.read_bytes()[-2000:]
        shutil.rmtree(cluster.root, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {exc}\n{detail.decode(errors='replace')}")
    yield cluster
    cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: Cluster) -> Iterator[str]:
    """A fresh, empty database of the session's cluster."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "dfr.sqlite")
    return request.getfixturevalue("postgres_url")
