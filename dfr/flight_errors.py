"""What can go wrong flying a sortie, as the flight executor and dock preparation raise it.

FlightError
├── PreflightFailed     parameters, fence or mission did not verify; arm or start refused
└── CommandNotAllowed   a pilot command that does not fit the sortie's state
"""

from __future__ import annotations


class FlightError(Exception):
    """Base of the flight errors."""


class PreflightFailed(FlightError):
    pass


class CommandNotAllowed(FlightError):
    pass
