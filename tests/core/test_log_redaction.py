"""Tokens in logged URLs are replaced before any handler sees them."""

from __future__ import annotations

import logging

import uvicorn

from dfr.log_redaction import RedactTokens, redact, uvicorn_log_config


def test_token_values_are_replaced_and_the_rest_kept() -> None:
    assert redact("/api/ws?token=eyJ.abc-def") == "/api/ws?token=[redacted]"
    assert redact("/whep/dfr-1?x=1&TOKEN=s3cr3t&y=2") == "/whep/dfr-1?x=1&TOKEN=[redacted]&y=2"
    assert redact("/officer#token=abc") == "/officer#token=[redacted]"
    assert redact("/api/calls?status=new") == "/api/calls?status=new"


def test_the_access_log_filter_redacts_uvicorns_arguments() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/ws?token=abc", "1.1", 101), None,
    )  # fmt: skip
    assert RedactTokens().filter(record)
    assert "abc" not in record.getMessage()
    assert "token=[redacted]" in record.getMessage()
    config = uvicorn_log_config(uvicorn.config.LOGGING_CONFIG)
    assert "redact_tokens" in config["handlers"]["access"]["filters"]
    assert "filters" not in uvicorn.config.LOGGING_CONFIG["handlers"]["access"]  # a copy
