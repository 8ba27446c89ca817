"""Access logs never carry a token: `token=` values in logged URLs are replaced.

The pages send tokens in headers or messages, but media players and older clients may
still put one in a query string, and a URL in a log is a credential in a log.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_TOKEN = re.compile(r"((?:^|[?&#])(?:token|access_token)=)[^&#\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """
    >>> redact("/whep/dfr-1?token=abc.def&x=1")
    '/whep/dfr-1?token=[redacted]&x=1'
    """
    return _TOKEN.sub(r"\1[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True


def uvicorn_log_config(base: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging configuration with the access log redacted."""
    config = copy.deepcopy(base)
    config.setdefault("filters", {})["redact_tokens"] = {"()": RedactTokens}
    access = config.get("handlers", {}).get("access")
    if access is not None:
        access.setdefault("filters", []).append("redact_tokens")
    return config
