"""The flight battery: energy drained by the airframe's power draw, reported like PX4.

Power is a plausible 2.5 kg quadrotor's: ~400 W in hover, a little less at
moderate forward speed (translational lift), more when fast or climbing; the
capacity is set so that hover lasts `hover_endurance_s` (2,400 s by default), and
a 20 m/s cruise ~2,100 s. The pack is 4S LiPo, 16.2 V full as PX4 SITL reports,
14.0 V empty.

>>> pack = Battery(hover_endurance_s=2400.0)
>>> pack.drain(10.0, airspeed_m_s=0.0, climb_m_s=0.0, armed=True, airborne=True)
>>> round(pack.remaining * 100, 2)
99.58
"""

from __future__ import annotations

import enum

from pymavlink.dialects.v20 import common as mavlink

from sitl.physics import GRAVITY_M_S2

HOVER_POWER_W = 400.0
IDLE_POWER_W = 25.0  # armed on the ground, props spinning
MASS_KG = 2.5
CLIMB_EFFICIENCY = 0.6
CELLS = 4
CELL_FULL_V = 4.05
CELL_EMPTY_V = 3.5
INTERNAL_RESISTANCE_OHM = 0.02


class BatteryWarning(enum.IntEnum):
    """PX4's battery warning levels as BATTERY_STATUS.charge_state reports them."""

    NONE = mavlink.MAV_BATTERY_CHARGE_STATE_OK
    LOW = mavlink.MAV_BATTERY_CHARGE_STATE_LOW
    CRITICAL = mavlink.MAV_BATTERY_CHARGE_STATE_CRITICAL
    EMERGENCY = mavlink.MAV_BATTERY_CHARGE_STATE_EMERGENCY


def power_w(airspeed_m_s: float, climb_m_s: float) -> float:
    """Electrical power drawn in flight.

    >>> round(power_w(0.0, 0.0)), round(power_w(10.0, 0.0)), round(power_w(20.0, 0.0))
    (400, 364, 456)
    """
    forward = 1.0 - 0.025 * airspeed_m_s + 0.0016 * airspeed_m_s * airspeed_m_s
    climb = MASS_KG * GRAVITY_M_S2 * climb_m_s / CLIMB_EFFICIENCY
    if climb_m_s < 0.0:
        climb *= 0.1  # descending recovers little; it mostly just needs less thrust
    return max(HOVER_POWER_W * forward + climb, IDLE_POWER_W)


class Battery:
    """State of charge, voltage and current of the pack."""

    def __init__(self, hover_endurance_s: float) -> None:
        if hover_endurance_s <= 0:
            raise ValueError(f"hover_endurance_s must be positive, got {hover_endurance_s}")
        self.capacity_j = HOVER_POWER_W * hover_endurance_s
        self.energy_j = self.capacity_j
        self.current_a = 0.0
        self.consumed_mah = 0.0
        self.failed = False

    @property
    def remaining(self) -> float:
        """State of charge in [0, 1]."""
        return max(0.0, min(1.0, self.energy_j / self.capacity_j))

    @property
    def voltage_v(self) -> float:
        open_circuit = CELLS * (CELL_EMPTY_V + (CELL_FULL_V - CELL_EMPTY_V) * self.remaining)
        return max(open_circuit - self.current_a * INTERNAL_RESISTANCE_OHM, 0.0)

    def drain(
        self, dt_s: float, airspeed_m_s: float, climb_m_s: float, armed: bool, airborne: bool
    ) -> None:
        if not armed:
            power = 0.0
        elif not airborne:
            power = IDLE_POWER_W
        else:
            power = power_w(airspeed_m_s, climb_m_s)
        volts = CELLS * (CELL_EMPTY_V + (CELL_FULL_V - CELL_EMPTY_V) * self.remaining)
        self.current_a = power / volts if volts > 0 else 0.0
        self.energy_j = max(0.0, self.energy_j - power * dt_s)
        self.consumed_mah += self.current_a * dt_s / 3.6

    def fail(self, remaining: float) -> None:
        """Drop the charge to `remaining` (a cell failure, a cold pack)."""
        self.energy_j = max(0.0, min(1.0, remaining)) * self.capacity_j
        self.failed = True

    def warning(self, low: float, critical: float, emergency: float) -> BatteryWarning:
        """The warning level for PX4's BAT_LOW_THR / BAT_CRIT_THR / BAT_EMERGEN_THR."""
        level = self.remaining
        if level <= emergency:
            return BatteryWarning.EMERGENCY
        if level <= critical:
            return BatteryWarning.CRITICAL
        if level <= low:
            return BatteryWarning.LOW
        return BatteryWarning.NONE
