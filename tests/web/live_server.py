"""Run the real dfr server for the browser tests: `python tests/web/live_server.py '<json>'`.

The JSON holds the `Settings` fields. A process of its own keeps the server's event
loop (fleet, simulator links, video) apart from the browser driver in the tests.
"""

from __future__ import annotations

import json
import sys

import uvicorn

from dfr.cli import server_app
from dfr.settings import Settings


def main() -> None:
    settings = Settings(**json.loads(sys.argv[1]))
    uvicorn.run(server_app(settings), host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
