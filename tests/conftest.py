"""Fixtures every part of the tests may use: a throwaway PostgreSQL (tests.postgres)."""

pytest_plugins = ["tests.postgres"]
