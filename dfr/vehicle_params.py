"""A drone's PX4 parameters: set what differs from its profile and read it back."""

from __future__ import annotations

from collections.abc import Sequence

from dfr.flight_errors import PreflightFailed
from missions.geo import GeoPoint
from missions.mission_plan import FlightSettings, ParamSetting, build_params, param_differences
from missions.profile import DroneProfile
from missions.route import Fence, Route, Waypoint
from stations.drone_link import DroneLink


async def sync_params(link: DroneLink, wanted: Sequence[ParamSetting]) -> int:
    """Set the parameters that differ, then read those back (PX4 may ignore a set).

    Returns how many were changed; raises PreflightFailed when one does not verify.
    """
    held = {p.name: await link.get_param(p.name, p.type) for p in wanted}
    stale = [p for p in wanted if not p.matches(held[p.name])]
    for setting in stale:
        await link.set_param(setting)
    held |= {p.name: await link.get_param(p.name, p.type) for p in stale}
    if diffs := param_differences(wanted, held):
        raise PreflightFailed(f"parameters did not verify: {'; '.join(map(str, diffs))}")
    return len(stale)


def dock_params(
    link: DroneLink,
    profile: DroneProfile,
    cruise_altitude_m: float,
    settings: FlightSettings | None = None,
) -> tuple[ParamSetting, ...]:
    """The parameters a docked drone gets ahead of any call: its profile's, for a route
    at the deployment's cruise altitude (a route flown lower, under a ceiling, changes
    the takeoff and return altitudes at dispatch)."""
    home = link.state.position
    here = GeoPoint(home.latitude_deg, home.longitude_deg) if home else GeoPoint(0.0, 0.0)
    nominal = Route(
        (
            Waypoint(here.latitude_deg, here.longitude_deg, 0.0),
            Waypoint(here.latitude_deg, here.longitude_deg, cruise_altitude_m),
        ),
        0.0,
        Fence(),
        here,
        cruise_altitude_m=cruise_altitude_m,
    )
    return build_params(nominal, profile, settings or FlightSettings())
