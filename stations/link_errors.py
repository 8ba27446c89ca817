"""The drone link's errors, one tree; `stations.drone_link` raises them and re-exports them::

    LinkError                 something went wrong talking to a drone
    ├── ConnectTimeout        no vehicle answered on the address in time
    ├── NotReady              connected, but the health checks did not pass in time
    ├── LinkLost              the vehicle does not answer (no heartbeat)
    │   └── LinkClosed        this link is closed or its mavsdk_server died: open a new one
    ├── CommandTimeout        the vehicle did not answer a command or transfer in time
    ├── CommandRefused        the vehicle answered no (denied, busy, unsupported, bad value)
    ├── TransferFailed        a mission, fence or parameter transfer failed otherwise
    └── WaitTimeout           a telemetry condition was not met in time

Each carries the `drone_id`; the MAVSDK or gRPC exception behind it is its `__cause__`.
"""

from __future__ import annotations


class LinkError(Exception):
    """Base of the drone-link errors; `drone_id` names the drone."""

    def __init__(self, drone_id: str, message: str) -> None:
        super().__init__(f"{drone_id}: {message}")
        self.drone_id = drone_id


class ConnectTimeout(LinkError):
    pass


class NotReady(LinkError):
    pass


class LinkLost(LinkError):
    pass


class LinkClosed(LinkLost):
    pass


class CommandTimeout(LinkError):
    pass


class CommandRefused(LinkError):
    pass


class TransferFailed(LinkError):
    pass


class WaitTimeout(LinkError):
    pass
