"""One simulated PX4 vehicle: its parts, its MAVLink dispatch and its fixed-step update.

    async with SimFleet.single(SimConfig(home=GeoPoint(38.2544, -104.6091))) as vehicle:
        print(vehicle.mavlink_address)        # udpin://127.0.0.1:14540 for MAVSDK
        await vehicle.wait_until(lambda s: s.armed, timeout_s=30)
        vehicle.faults.gps_loss()

Vehicle time advances only in whole physics steps (`SimConfig.physics_step_s`), driven
by the fleet clock (`sitl.fleet`), so what the vehicle does is the same in vehicle
time however fast or late the host runs; only the arrival step of a ground-station
message depends on the host.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import math
from collections import Counter
from collections.abc import Callable
from typing import Protocol

from pymavlink.dialects.v20 import common as mavlink

from missions.geo import GeoPoint, LocalFrame
from sitl import guidance
from sitl.battery import Battery, BatteryWarning
from sitl.commander import Commander
from sitl.commands import CommandHandler
from sitl.config import SimConfig
from sitl.errors import SimulatorStopped
from sitl.failsafe import FailsafeMonitor
from sitl.faults import Faults, FaultSpec
from sitl.geofence import Geofence
from sitl.land_detector import LandDetector
from sitl.link import MavlinkLink
from sitl.mission_items import FENCE, MISSION, MissionItem
from sitl.mission_runner import MissionRunner, MissionState
from sitl.mission_transfer import MissionStore, MissionTransfer
from sitl.navigator import Navigator
from sitl.param_protocol import ParamProtocol
from sitl.params import ParamTable
from sitl.physics import Multirotor
from sitl.rtl import ReturnToLaunch
from sitl.state import VehicleState
from sitl.telemetry import Telemetry


class Clock(Protocol):
    """The lockstep clock a vehicle runs on (`sitl.fleet.SimFleet`)."""

    async def next_tick(self) -> None: ...


log = logging.getLogger(__name__)

BOOT_HEADING_TEXT_S = 2.5
StepObserver = Callable[["SimVehicle"], None]


class SimVehicle:
    """A PX4-compatible MAVLink vehicle; create it through `running` or `SimFleet`."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.params = ParamTable({"MAV_SYS_ID": config.system_id, **config.params})
        self.frame = LocalFrame(config.home)
        self.frame.to_lonlat(0.0, 0.0)  # build the projection now, not inside the clock
        self.origin_alt_amsl_m = config.home_alt_amsl_m
        self.airframe = Multirotor(math.radians(config.heading_deg))
        self.link = MavlinkLink(config.system_id, config.resolved_api_port, self._on_message)
        self.navigator = Navigator(self.params, self.airframe)
        self.navigator.wind_xy = (config.wind_east_m_s, config.wind_north_m_s)
        self.rtl = ReturnToLaunch(
            self.params, self.airframe, self.navigator, self.link, self.origin_alt_amsl_m
        )
        self.missions = MissionStore()
        self.mission_runner = MissionRunner(
            self.params, self.airframe, self.navigator, self.link, self.frame,
            self.origin_alt_amsl_m, self.missions,
        )  # fmt: skip
        self.geofence = Geofence(self.frame)
        self.battery = Battery(config.hover_endurance_s)
        self.land_detector = LandDetector(self.link)
        self.failsafe = FailsafeMonitor(self.params, self.link)
        self.commander = Commander(
            self.params, self.airframe, self.navigator, self.rtl, self.mission_runner,
            self.geofence, self.land_detector, self.failsafe, self.link,
            armable_after_s=config.armable_after_s, health_ok_after_s=config.health_ok_after_s,
        )  # fmt: skip
        self.telemetry = Telemetry(self)
        self.commands = CommandHandler(
            self.commander, self.navigator, self.airframe, self.params, self.frame,
            self.origin_alt_amsl_m, self.link, self.telemetry.request,
        )  # fmt: skip
        self.mission_transfer = MissionTransfer(
            self.link, self.missions, self._validate_upload, self._upload_changed,
            self.mission_runner.set_current,
        )  # fmt: skip
        self.param_protocol = ParamProtocol(self.params, self.link)
        self.faults = Faults(self)
        self.statustexts: list[tuple[float, str]] = []
        self.ignored_messages: Counter[str] = Counter()
        self.step_count = 0
        self._scheduled: list[FaultSpec] = []
        self._observers: list[StepObserver] = []
        self._latlon_step = -1
        self._latlon = (config.home.latitude_deg, config.home.longitude_deg)
        self._said_heading = False
        self._clock: Clock | None = None
        self.link.on_text = lambda text: self.statustexts.append((self.now_s, text.rstrip("\t")))

    # lifecycle

    def attach(self, clock: Clock | None) -> None:
        """Run on `clock` from now on (None: stopped)."""
        self._clock = clock

    async def open(self) -> None:
        """Bind the vehicle's UDP socket. Raises OSError when an explicit port is taken.

        With the default local port (14580+N) taken, e.g. by another simulator on the
        same machine, any free port is used instead: MAVSDK answers whatever port the
        stream comes from, so only the API port matters.
        """
        try:
            await self.link.open(self.config.resolved_local_port)
        except OSError as exc:
            if self.config.local_port is not None or exc.errno != errno.EADDRINUSE:
                raise
            log.warning("local port %d in use; using a free one", self.config.resolved_local_port)
            await self.link.open(0)

    def close(self) -> None:
        self.link.close()

    # time and identity

    @property
    def now_s(self) -> float:
        return self.step_count * self.config.physics_step_s

    @property
    def time_boot_ms(self) -> int:
        return round(self.now_s * 1000.0)

    @property
    def time_usec(self) -> int:
        return round(self.now_s * 1e6)

    @property
    def mavlink_address(self) -> str:
        return self.config.mavlink_address

    @property
    def local_port(self) -> int | None:
        return self.link.local_port

    # observation

    def lat_lon(self) -> tuple[float, float]:
        """Latitude, longitude (degrees) of the airframe, computed once per step."""
        if self._latlon_step != self.step_count:
            lon, lat = self.frame.to_lonlat(self.airframe.x_m, self.airframe.y_m)
            self._latlon = (lat, lon)
            self._latlon_step = self.step_count
        return self._latlon

    @property
    def state(self) -> VehicleState:
        a, c, nav = self.airframe, self.commander, self.navigator
        lat, lon = self.lat_lon()
        home_lon, home_lat = self.frame.to_lonlat(nav.home[0], nav.home[1])
        return VehicleState(
            time_boot_ms=self.time_boot_ms,
            position=GeoPoint(lat, lon),
            relative_altitude_m=a.z_m - nav.home[2],
            alt_amsl_m=self.origin_alt_amsl_m + a.z_m,
            north_m=a.y_m,
            east_m=a.x_m,
            velocity_north_m_s=a.vy_m_s,
            velocity_east_m_s=a.vx_m_s,
            velocity_down_m_s=-a.vz_m_s,
            ground_speed_m_s=a.ground_speed_m_s,
            heading_deg=math.degrees(a.heading_rad) % 360.0,
            armed=c.armed,
            flight_mode=c.mode,
            landed_state=c.landed_state,
            battery_pct=self.battery.remaining * 100.0,
            battery_voltage_v=self.battery.voltage_v,
            gps_fix=c.gps_ok,
            position_valid=c.position_valid,
            home=GeoPoint(home_lat, home_lon),
            home_alt_amsl_m=self.origin_alt_amsl_m + nav.home[2],
            mission_seq=self.mission_runner.current_seq,
            mission_count=len(self.mission_runner.items),
            gcs_connected=self.failsafe.gcs.seen and not self.failsafe.gcs.lost,
            link_up=self.link.enabled,
            failsafe=self.failsafe.active_reason,
            fence_breach=c.fence_breach,
            terminated=c.terminated,
        )

    def add_step_observer(self, observer: StepObserver) -> Callable[[], None]:
        """Call `observer(vehicle)` after every physics step; returns a remover."""
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    async def wait_until(
        self, predicate: Callable[[VehicleState], bool], timeout_s: float
    ) -> VehicleState:
        """Wait (wall time) until `predicate(state)` holds.

        Raises TimeoutError after `timeout_s`, SimulatorStopped when not running.
        """
        clock = self._clock
        if clock is None:
            raise SimulatorStopped("vehicle is not running")
        async with asyncio.timeout(timeout_s):
            while True:
                state = self.state
                if predicate(state):
                    return state
                await clock.next_tick()

    async def sleep(self, vehicle_s: float, timeout_s: float | None = None) -> VehicleState:
        """Wait `vehicle_s` of vehicle time. Raises TimeoutError after `timeout_s` wall
        seconds (default: twice the nominal wall time plus 10 s)."""
        until = self.now_s + vehicle_s
        if timeout_s is None:
            timeout_s = 2.0 * vehicle_s / self.config.speed_factor + 10.0
        return await self.wait_until(lambda s: s.time_s >= until - 1e-9, timeout_s)

    def schedule_fault(self, spec: FaultSpec) -> None:
        """Apply `spec` once vehicle time reaches `spec.at_s`."""
        self._scheduled.append(spec)

    # stepping

    def step(self) -> None:
        """Advance one physics step."""
        self.step_count += 1
        now = self.now_s
        c, p, a = self.commander, self.params, self.airframe
        c.now_s = now
        if self._scheduled:
            self._apply_scheduled(now)
        if not self._said_heading and now >= BOOT_HEADING_TEXT_S:
            self._said_heading = True
            self.link.send_text(
                mavlink.MAV_SEVERITY_CRITICAL, "Preflight Fail: heading estimate not stable"
            )
        c.update_position_validity(float(p.get("EKF2_NOAID_TOUT")) * 1e-6)
        flying = c.flying
        self.failsafe.check_link(now, flying)
        self.failsafe.check_battery(now, self.battery, flying)
        c.battery_critical = self.failsafe.battery_warning >= BatteryWarning.CRITICAL
        due = self.failsafe.take_due(now)
        if due is not None:
            c.apply_failsafe(due)
        cmd = c.motion_command()
        cfg = self.config
        a.step(
            cfg.physics_step_s, cmd, self.navigator.motion_limits(),
            motors_on=c.armed and not c.terminated,
            wind_east_m_s=cfg.wind_east_m_s, wind_north_m_s=cfg.wind_north_m_s,
        )  # fmt: skip
        airspeed = math.hypot(a.vx_m_s - cfg.wind_east_m_s, a.vy_m_s - cfg.wind_north_m_s)
        self.battery.drain(cfg.physics_step_s, airspeed, a.vz_m_s, c.armed, not a.on_ground)
        landed = self.land_detector.update(now, a, c.armed, c.climb_since_s)
        c.after_motion(landed)
        brake = guidance.braking_distance_m(
            a.ground_speed_m_s, float(p.get("MPC_ACC_HOR_MAX")), float(p.get("MPC_JERK_AUTO"))
        )
        c.check_fence(brake)
        if not c.armed and c.landed and self.failsafe.pending is None:
            self.failsafe.active_reason = None
        self.telemetry.emit_due(now)
        self.mission_transfer.poll()
        for observer in self._observers:
            observer(self)

    def _apply_scheduled(self, now: float) -> None:
        due = [s for s in self._scheduled if s.at_s <= now]
        self._scheduled = [s for s in self._scheduled if s.at_s > now]
        for spec in due:
            self.faults.apply(spec)

    # incoming MAVLink

    def _on_message(self, msg: mavlink.MAVLink_message, sender: tuple[int, int]) -> None:
        if sender[0] == self.config.system_id:
            return  # our own echo
        kind = msg.get_type()
        if kind == "HEARTBEAT":
            if msg.type == mavlink.MAV_TYPE_GCS:
                self.failsafe.gcs.heard(self.now_s)
        elif kind in ("COMMAND_LONG", "COMMAND_INT"):
            self.commands.handle(msg, sender)
        elif kind == "PING":
            if msg.target_system == 0:  # a request: answer it, as PX4 does
                self.link.send(self.link.mav.ping_encode(msg.time_usec, msg.seq, *sender))
        elif kind == "TIMESYNC":
            if msg.tc1 == 0:
                self.link.send(self.link.mav.timesync_encode(self.time_usec * 1000, msg.ts1))
        elif not self.mission_transfer.handle(msg, sender) and not self.param_protocol.handle(
            msg, sender
        ):
            self.ignored_messages[kind] += 1

    def _validate_upload(self, mission_type: int, items: tuple[MissionItem, ...]) -> int:
        if mission_type == FENCE:
            return self.geofence.validate(items)
        return mavlink.MAV_MISSION_ACCEPTED

    def _upload_changed(self, mission_type: int) -> None:
        items = self.missions.get(mission_type)
        if mission_type == MISSION:
            self.mission_runner.load(items)
            if self.mission_runner.state is not MissionState.ACTIVE:
                self.commander.mission_blocked_until_s = self.now_s + self.config.mission_holdoff_s
        elif mission_type == FENCE:
            self.geofence.load(items)
