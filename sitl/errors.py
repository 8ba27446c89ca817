"""The simulator's errors, one tree.

SimulatorError
├── ParamError          no such parameter, or a value of the wrong type
├── FenceError          fence items that describe no valid zone
├── SimulatorStopped    waiting on a vehicle whose clock is not running
└── Px4LaunchError      PX4 SITL could not be started
    ├── Px4NotFound         DFR_PX4_DIR unset, or no bin/px4 in it
    └── Px4StartupError     an instance exited or did not finish booting in time
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Base of every error the simulator raises on purpose."""


class ParamError(SimulatorError):
    """A parameter the vehicle does not have, or a value of the wrong type."""


class FenceError(SimulatorError, ValueError):
    """Fence items that do not describe valid zones (PX4 rejects such an upload)."""


class SimulatorStopped(SimulatorError, RuntimeError):
    """The vehicle's clock is not running (not started, or already closed)."""


class Px4LaunchError(SimulatorError):
    """PX4 SITL could not be started."""


class Px4NotFound(Px4LaunchError):
    """No PX4 build at DFR_PX4_DIR."""


class Px4StartupError(Px4LaunchError):
    """An instance exited early or did not boot in time."""
