"""Without PostgreSQL's binaries its tests skip on a developer's machine and fail under CI."""

from __future__ import annotations

import pytest

from tests.postgres import _missing


def test_missing_postgresql_skips_locally_and_fails_under_ci(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI runs the PostgreSQL tests"):
        _missing("PostgreSQL's binaries are missing")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="binaries are missing"):
        _missing("PostgreSQL's binaries are missing")
