"""One drone's MAVLink link through MAVSDK: commands, transfers and one shared telemetry feed.

This is the only module that imports `mavsdk`. Every MAVSDK call goes through
`DroneLink._remote`, which puts a time limit on it, and `_mapped_errors`, the one
place where MAVSDK's and gRPC's errors become ours (the `LinkError` tree of
`stations.link_errors`, re-exported here).

Telemetry: one subscription per stream for the link's lifetime, each folded into the
frozen `DroneState`; consumers read `link.state` or await `changed()` / `wait_for()`.
Position, velocity, heading and the vehicle clock come from one GLOBAL_POSITION_INT
stream (MAVSDK's MavlinkDirect), so every position sample carries `time_boot_ms`.
PX4 sends that message at 50 Hz on its API link; the link asks for
`position_rate_hz` instead, when it opens and again whenever the vehicle restarts
(its clock going back resets PX4's rates). Every sample costs the event loop a
parse, and a loop that falls behind a 50 Hz stream per drone does not drop samples:
it works through a growing backlog, and its "current" position falls further
behind the vehicle's status texts, arming and landed state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import struct
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc

with warnings.catch_warnings():
    # mavsdk 3.x announces its rename on import; the gRPC API it has is the one we pin.
    warnings.filterwarnings("ignore", "The 'mavsdk' package has been renamed", FutureWarning)
    import mavsdk
    from mavsdk import System
    from mavsdk.action import ActionError
    from mavsdk.geofence import GeofenceError
    from mavsdk.mavlink_direct import MavlinkDirectError, MavlinkMessage
    from mavsdk.mission_raw import MissionItem as RawMissionItem
    from mavsdk.mission_raw import MissionRawError
    from mavsdk.param import ParamError
    from mavsdk.telemetry import TelemetryError

from missions.drone_state import (
    DroneState,
    FlightMode,
    Health,
    LandedState,
    Position,
    Severity,
    VelocityNed,
)
from missions.geo import GeoPoint
from missions.mission_plan import MavCmd, MissionItem, MissionType, ParamSetting, ParamType
from stations.link_errors import (
    CommandRefused,
    CommandTimeout,
    ConnectTimeout,
    LinkClosed,
    LinkError,
    LinkLost,
    NotReady,
    TransferFailed,
    WaitTimeout,
)
from stations.mavsdk_server import MavsdkServer, ServerExited
from stations.telemetry_feed import TelemetryFeed, WaitExpired

__all__ = [
    "CommandRefused",
    "CommandTimeout",
    "ConnectTimeout",
    "DroneLink",
    "LinkClosed",
    "LinkError",
    "LinkLost",
    "LinkSettings",
    "NotReady",
    "TransferFailed",
    "WaitTimeout",
]
log = logging.getLogger(__name__)
T = TypeVar("T")

MAVSDK_SERVER = Path(mavsdk.__file__).parent / "bin" / "mavsdk_server"
_FRAME_GLOBAL_INT = 5
#: MAV_PARAM_TYPE_UINT32 / INT32: PX4 sends their bits in PARAM_VALUE's float.
_INT_PARAM_TYPES = (5, 6)
_AUTOPILOT_COMPONENT = 1
_ORBIT_FACE_CENTER = 0  # ORBIT_YAW_BEHAVIOUR_HOLD_FRONT_TO_CIRCLE_CENTER


class _System(System):  # type: ignore[misc]
    """A `System` on a mavsdk_server this module starts and stops itself.

    MAVSDK's own `__del__` imports a module to look for a server it started; at
    interpreter exit that import fails noisily, and there is nothing to stop anyway.
    """

    def __del__(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Time limits (wall seconds) for talking to one drone."""

    connect_timeout_s: float = 15.0
    #: How long MAVSDK waits for each answer of a MAVLink transfer (a mission item, a
    #: parameter) before sending again (MAVSDK's own 0.5 s). Longer rides out a radio or
    #: LTE link's latency spikes or a busy vehicle (QGroundControl waits 1.5 s), but a
    #: vehicle that does not answer is found out that much later.
    mavlink_timeout_s: float = 0.5
    ready_timeout_s: float = 30.0
    command_timeout_s: float = 5.0
    transfer_timeout_s: float = 20.0
    server_stop_timeout_s: float = 5.0
    status_text_history: int = 50
    #: GLOBAL_POSITION_INT per vehicle second (0: leave the vehicle's own rate).
    position_rate_hz: float = 10.0
    #: Wall seconds between attempts while the vehicle does not take the rate.
    rate_retry_s: float = 1.0


_GONE = {"NO_SYSTEM", "CONNECTION_ERROR"}
# Answers that mean "the vehicle said no", whichever plugin reports them.
_REFUSED = {
    "DENIED",
    "BUSY",
    "UNSUPPORTED",
    "INVALID_ARGUMENT",
    "TOO_MANY_MISSION_ITEMS",
    "TOO_MANY_GEOFENCE_ITEMS",
    "WRONG_TYPE",
    "DOES_NOT_EXIST",
    "VALUE_OUT_OF_RANGE",
    "READ_ONLY",
    "PERMISSION_DENIED",
}
_COMMAND_ERRORS = (ActionError, MavlinkDirectError, TelemetryError)
_TRANSFER_ERRORS = (MissionRawError, GeofenceError, ParamError)


@contextlib.contextmanager
def _mapped_errors(drone_id: str, what: str, timeout_s: float) -> Iterator[None]:
    """Translate MAVSDK's and gRPC's exceptions into LinkError subclasses."""
    try:
        yield
    except TimeoutError as exc:
        raise CommandTimeout(drone_id, f"{what}: no answer within {timeout_s:g} s") from exc
    except (*_COMMAND_ERRORS, *_TRANSFER_ERRORS) as exc:
        name = exc._result.result.name
        message = f"{what}: {name} {exc._result.result_str}".rstrip()
        if name == "TIMEOUT":
            raise CommandTimeout(drone_id, message) from exc
        if name in _GONE:
            raise LinkLost(drone_id, message) from exc
        if name in _REFUSED or isinstance(exc, _COMMAND_ERRORS):
            raise CommandRefused(drone_id, message) from exc
        raise TransferFailed(drone_id, message) from exc
    except grpc.aio.AioRpcError as exc:
        raise LinkClosed(drone_id, f"{what}: mavsdk_server: {exc.code().name}") from exc


class DroneLink:
    """A connected drone. Open with ``async with DroneLink.connect(drone_id, address) as link``."""

    def __init__(
        self, drone_id: str, system: System, server: MavsdkServer, settings: LinkSettings
    ) -> None:
        self.drone_id = drone_id
        self.settings = settings
        self._system = system
        self._server = server
        self._feed = TelemetryFeed(settings.status_text_history)
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False
        self._vehicle_sysid = 1
        self._ack_waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._announced: dict[str, float] = {}
        self._rate_wanted = asyncio.Event()
        self._rate_wanted.set()

    # --- lifecycle -----------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, drone_id: str, address: str, settings: LinkSettings | None = None
    ) -> AsyncIterator[DroneLink]:
        """Connect to the vehicle at `address` (``udpin://127.0.0.1:14540``).

        Raises ConnectTimeout when no vehicle answers within `connect_timeout_s`.
        """
        link = await cls.open(drone_id, address, settings)
        try:
            yield link
        finally:
            await link.close()

    @classmethod
    async def open(
        cls, drone_id: str, address: str, settings: LinkSettings | None = None
    ) -> DroneLink:
        """Like `connect`, for owners that manage the lifetime themselves: call `close()`."""
        settings = settings or LinkSettings()
        server = MavsdkServer(MAVSDK_SERVER, address, drone_id)
        try:
            async with asyncio.timeout(settings.connect_timeout_s):
                port = await server.start()
                system = _System(mavsdk_server_address="127.0.0.1", port=port)
                await system.connect()
                await system.core.set_mavlink_timeout(settings.mavlink_timeout_s)
        except TimeoutError as exc:
            await server.stop(settings.server_stop_timeout_s)
            raise ConnectTimeout(
                drone_id, f"no vehicle on {address} within {settings.connect_timeout_s:g} s"
            ) from exc
        except ServerExited as exc:
            await server.stop(settings.server_stop_timeout_s)
            raise LinkClosed(drone_id, str(exc)) from exc
        except BaseException:
            await server.stop(settings.server_stop_timeout_s)
            raise
        link = cls(drone_id, system, server, settings)
        link._start_streams()
        return link

    async def close(self) -> None:
        """Stop the telemetry streams and the mavsdk_server; safe to call twice.

        Closing does not command the vehicle: an airborne drone flies on by itself.
        """
        if self._closed:
            return
        self._closed = True
        self._fail(LinkClosed(self.drone_id, "link closed"))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        try:
            if tasks:
                await asyncio.wait(tasks)
        finally:
            await self._server.stop(self.settings.server_stop_timeout_s)

    @property
    def closed(self) -> bool:
        """True once closed or once the link failed for good (mavsdk_server gone)."""
        return self._closed or self._feed.failure is not None

    @property
    def failure(self) -> BaseException | None:
        """Why the link is closed, or None while it is usable."""
        return self._feed.failure

    @property
    def server_pid(self) -> int | None:
        return self._server.pid

    # --- telemetry -------------------------------------------------------------------

    @property
    def state(self) -> DroneState:
        return self._feed.state

    @property
    def telemetry_age_s(self) -> float | None:
        """Seconds since any telemetry arrived (monotonic), None if none ever did."""
        return self._feed.age_s

    async def changed(self, timeout_s: float) -> DroneState:
        """Wait for the next telemetry update. Raises WaitTimeout or LinkClosed."""
        try:
            return await self._feed.changed(timeout_s)
        except WaitExpired as exc:
            raise WaitTimeout(self.drone_id, f"telemetry update: {exc}") from exc

    async def wait_for(
        self, predicate: Callable[[DroneState], bool], timeout_s: float, what: str
    ) -> DroneState:
        """Wait until `predicate(state)` holds. Raises WaitTimeout or LinkClosed."""
        try:
            return await self._feed.wait_for(predicate, timeout_s)
        except WaitExpired as exc:
            raise WaitTimeout(self.drone_id, f"{what}: {exc}") from exc

    async def wait_ready(self, timeout_s: float | None = None) -> DroneState:
        """Wait until health is all OK (global position, home, armable). Raises NotReady."""
        limit = self.settings.ready_timeout_s if timeout_s is None else timeout_s
        try:
            return await self.wait_for(_ready, limit, "health all ok")
        except WaitTimeout as exc:
            raise NotReady(
                self.drone_id, f"health not ok within {limit:g} s: {self.state.health}"
            ) from exc

    def _start_streams(self) -> None:
        telemetry = self._system.telemetry
        direct = self._system.mavlink_direct
        streams: dict[str, tuple[Callable[[], AsyncIterator[Any]], Callable[[Any], None]]] = {
            "global_position": (lambda: direct.message("GLOBAL_POSITION_INT"), self._on_position),
            "command_ack": (lambda: direct.message("COMMAND_ACK"), self._on_ack),
            "mission_current": (lambda: direct.message("MISSION_CURRENT"), self._on_current),
            "mission_ack": (lambda: direct.message("MISSION_ACK"), self._on_mission_ack),
            "param_value": (lambda: direct.message("PARAM_VALUE"), self._on_param_value),
            "home": (telemetry.home, self._on_home),
            "armed": (telemetry.armed, lambda v: self._feed.update(armed=bool(v))),
            "flight_mode": (telemetry.flight_mode, self._on_flight_mode),
            "landed_state": (telemetry.landed_state, self._on_landed_state),
            "battery": (telemetry.battery, self._on_battery),
            "health": (telemetry.health, self._on_health),
            "gps_info": (telemetry.gps_info, self._on_gps_info),
            "mission_progress": (self._system.mission_raw.mission_progress, self._on_progress),
            "status_text": (telemetry.status_text, self._on_status_text),
        }
        for name, (subscribe, apply) in streams.items():
            self._run(self._pump(name, subscribe, apply), name)
        if self.settings.position_rate_hz > 0:
            self._run(self._hold_position_rate(), "position rate")

    def _run(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=f"{self.drone_id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._pump_done)

    async def _hold_position_rate(self) -> None:
        """Ask for `position_rate_hz` now and after every vehicle restart."""
        rate_hz = self.settings.position_rate_hz
        while True:
            await self._rate_wanted.wait()
            self._rate_wanted.clear()
            try:
                await self._remote(
                    "position rate", lambda: self._system.telemetry.set_rate_position(rate_hz)
                )
            except LinkClosed:
                return
            except CommandRefused as exc:
                log.warning("%s: %s; positions come at the vehicle's own rate", self.drone_id, exc)
                continue  # asked again only after a restart
            except LinkError as exc:
                log.warning("%s: %s; asking again", self.drone_id, exc)
                await asyncio.sleep(self.settings.rate_retry_s)
                self._rate_wanted.set()

    async def _pump(
        self, name: str, subscribe: Callable[[], AsyncIterator[Any]], apply: Callable[[Any], None]
    ) -> None:
        try:
            async with contextlib.aclosing(subscribe()) as stream:  # type: ignore[type-var]
                async for sample in stream:
                    apply(sample)
        except grpc.aio.AioRpcError as exc:
            self._fail(LinkClosed(self.drone_id, f"stream {name}: {exc.code().name}"))
            return
        self._fail(LinkClosed(self.drone_id, f"stream {name} ended"))

    def _pump_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s: %s failed", self.drone_id, task.get_name(), exc_info=exc)
            self._fail(LinkClosed(self.drone_id, f"{task.get_name()} failed: {exc!r}"))

    def _fail(self, error: LinkClosed) -> None:
        self._feed.fail(error)
        failure = self._feed.failure
        assert failure is not None
        for _, future in self._ack_waiters:
            if not future.done():
                future.set_exception(failure)
                future.exception()  # a waiter may have gone: do not report it twice
        self._ack_waiters.clear()

    def _check_open(self) -> None:
        self._feed.check()

    def _on_position(self, message: Any) -> None:
        fields = json.loads(message.fields_json)
        self._vehicle_sysid = int(message.system_id) or self._vehicle_sysid
        hdg = fields.get("hdg", 65535)
        vehicle_time_s = fields["time_boot_ms"] / 1000.0
        previous_s = self._feed.state.vehicle_time_s
        if previous_s is not None and vehicle_time_s < previous_s:
            self._rate_wanted.set()  # the vehicle restarted with its default rates
        self._feed.update(
            position=Position(
                fields["lat"] / 1e7,
                fields["lon"] / 1e7,
                fields["alt"] / 1000.0,
                fields["relative_alt"] / 1000.0,
            ),
            velocity=VelocityNed(fields["vx"] / 100.0, fields["vy"] / 100.0, fields["vz"] / 100.0),
            heading_deg=None if hdg == 65535 else hdg / 100.0,
            vehicle_time_s=vehicle_time_s,
        )

    def _on_ack(self, message: Any) -> None:
        fields = json.loads(message.fields_json)
        command, result = int(fields["command"]), int(fields["result"])
        for entry in list(self._ack_waiters):
            if entry[0] == command and not entry[1].done():
                entry[1].set_result(result)
                self._ack_waiters.remove(entry)

    def _on_current(self, message: Any) -> None:
        fields = json.loads(message.fields_json)
        self._feed.update(
            mission_checksum=int(fields.get("mission_id", 0)),
            fence_checksum=int(fields.get("fence_id", 0)),
        )

    def _on_mission_ack(self, message: Any) -> None:
        """An accepted upload's checksum, ahead of the next MISSION_CURRENT."""
        fields = json.loads(message.fields_json)
        if int(fields.get("type", -1)) != 0 or not (opaque := int(fields.get("opaque_id", 0))):
            return  # refused, or a vehicle without checksums
        kind = {0: "mission_checksum", 1: "fence_checksum"}.get(int(fields.get("mission_type", 0)))
        if kind is not None:
            self._feed.update(**{kind: opaque})

    def _on_param_value(self, message: Any) -> None:
        fields = json.loads(message.fields_json)
        value = float(fields.get("param_value", math.nan))
        if int(fields.get("param_type", 0)) in _INT_PARAM_TYPES:
            value = _bytewise_int(value)
        self._announced[str(fields.get("param_id", ""))] = value
        self._feed.update(param_announcements=self._feed.state.param_announcements + 1)

    def announced_param(self, name: str) -> float | None:
        """The value the vehicle last announced for `name` (None: not heard). PARAM_VALUE
        reaches us with about five significant digits, so compare with some tolerance."""
        return self._announced.get(name)

    def _on_home(self, home: Any) -> None:
        self._feed.update(
            home=Position(
                home.latitude_deg,
                home.longitude_deg,
                home.absolute_altitude_m,
                home.relative_altitude_m,
            )
        )

    def _on_flight_mode(self, mode: Any) -> None:
        self._feed.update(flight_mode=FlightMode.__members__.get(mode.name, FlightMode.UNKNOWN))

    def _on_landed_state(self, landed: Any) -> None:
        self._feed.update(
            landed_state=LandedState.__members__.get(landed.name, LandedState.UNKNOWN)
        )

    def _on_battery(self, battery: Any) -> None:
        pct = battery.remaining_percent
        self._feed.update(
            battery_pct=None if math.isnan(pct) else float(pct),
            battery_voltage_v=None if math.isnan(battery.voltage_v) else battery.voltage_v,
        )

    def _on_health(self, h: Any) -> None:
        self._feed.update(
            health=Health(
                gyrometer_calibration_ok=h.is_gyrometer_calibration_ok,
                accelerometer_calibration_ok=h.is_accelerometer_calibration_ok,
                magnetometer_calibration_ok=h.is_magnetometer_calibration_ok,
                local_position_ok=h.is_local_position_ok,
                global_position_ok=h.is_global_position_ok,
                home_position_ok=h.is_home_position_ok,
                armable=h.is_armable,
            )
        )

    def _on_gps_info(self, gps: Any) -> None:
        self._feed.update(
            gps_satellites=int(gps.num_satellites), gps_fix_type=int(gps.fix_type.value)
        )

    def _on_progress(self, progress: Any) -> None:
        self._feed.update(mission_current=int(progress.current), mission_total=int(progress.total))

    def _on_status_text(self, text: Any) -> None:
        # PX4 ends the texts it also sends as events with a tab.
        severity = Severity.__members__.get(text.type.name, Severity.INFO)
        self._feed.add_status_text(severity, text.text.rstrip())

    # --- remote calls ----------------------------------------------------------------

    async def _remote(
        self, what: str, call: Callable[[], Awaitable[T]], timeout_s: float | None = None
    ) -> T:
        self._check_open()
        limit = self.settings.command_timeout_s if timeout_s is None else timeout_s
        with _mapped_errors(self.drone_id, what, limit):
            async with asyncio.timeout(limit):
                return await call()

    async def set_param(self, setting: ParamSetting) -> None:
        """Set one PX4 parameter with its PX4 type. Raises LinkError."""
        param = self._system.param
        if setting.type is ParamType.INT32:
            value_i = int(setting.value)
            await self._remote(
                f"set {setting.name}", lambda: param.set_param_int(setting.name, value_i)
            )
        else:
            value_f = float(setting.value)
            await self._remote(
                f"set {setting.name}", lambda: param.set_param_float(setting.name, value_f)
            )

    async def get_param(self, name: str, type_: ParamType) -> float:
        """Read one parameter back from the vehicle. Raises LinkError."""
        param = self._system.param
        if type_ is ParamType.INT32:
            return float(await self._remote(f"get {name}", lambda: param.get_param_int(name)))
        return float(await self._remote(f"get {name}", lambda: param.get_param_float(name)))

    async def upload_mission(self, items: Sequence[MissionItem], current: int = 0) -> None:
        """Upload `items`, the one at `current` marked current: PX4 starts (or, with a
        mission under way, goes on at once) from it."""
        raw = [_to_raw(item, item.seq == current) for item in items]
        mission = self._system.mission_raw
        await self._remote(
            "upload mission", lambda: mission.upload_mission(raw), self.settings.transfer_timeout_s
        )

    async def download_mission(self) -> tuple[MissionItem, ...]:
        mission = self._system.mission_raw
        raw = await self._remote(
            "download mission", mission.download_mission, self.settings.transfer_timeout_s
        )
        return tuple(_from_raw(item) for item in raw)

    async def upload_fence(self, items: Sequence[MissionItem]) -> None:
        """Replace the vehicle's geofence; an empty sequence clears it."""
        if not items:
            fence = self._system.geofence
            await self._remote(
                "clear fence", fence.clear_geofence, self.settings.transfer_timeout_s
            )
            return
        raw = [_to_raw(item, item.seq == 0) for item in items]
        mission = self._system.mission_raw
        await self._remote(
            "upload fence", lambda: mission.upload_geofence(raw), self.settings.transfer_timeout_s
        )

    async def download_fence(self) -> tuple[MissionItem, ...]:
        mission = self._system.mission_raw
        try:
            raw = await self._remote(
                "download fence", mission.download_geofence, self.settings.transfer_timeout_s
            )
        except TransferFailed as exc:
            if "NO_MISSION_AVAILABLE" in str(exc):
                return ()
            raise
        return tuple(_from_raw(item) for item in raw)

    async def start_mission(self) -> None:
        await self._remote("start mission", self._system.mission_raw.start_mission)

    async def arm_and_start_mission(self) -> None:
        """Arm and start the mission from its first item in one command
        (MAV_CMD_MISSION_START: PX4 switches to MISSION mode and arms, and accepts only
        if it did both). Raises CommandRefused, e.g. while PX4 still rejects the mode."""
        await self._command_int(MavCmd.MISSION_START)

    async def pause_mission(self) -> None:
        await self._remote("pause mission", self._system.mission_raw.pause_mission)

    async def set_current_mission_item(self, index: int) -> None:
        mission = self._system.mission_raw
        await self._remote(
            f"set current item {index}", lambda: mission.set_current_mission_item(index)
        )

    async def arm(self) -> None:
        await self._remote("arm", self._system.action.arm)

    async def disarm(self) -> None:
        await self._remote("disarm", self._system.action.disarm)

    async def takeoff(self) -> None:
        await self._remote("takeoff", self._system.action.takeoff)

    async def hold(self) -> None:
        await self._remote("hold", self._system.action.hold)

    async def return_to_launch(self) -> None:
        await self._remote("return to launch", self._system.action.return_to_launch)

    async def land(self) -> None:
        await self._remote("land", self._system.action.land)

    async def kill(self) -> None:
        """Stop the motors at once, airborne or not. For a pilot's last resort only."""
        await self._remote("kill", self._system.action.kill)

    async def goto(
        self, point: GeoPoint, relative_altitude_m: float, yaw_deg: float = math.nan
    ) -> None:
        """Reposition to `point` at `relative_altitude_m` above home (the mode stays HOLD)."""
        amsl = self._home_amsl_m() + relative_altitude_m
        action = self._system.action
        await self._remote(
            "goto",
            lambda: action.goto_location(point.latitude_deg, point.longitude_deg, amsl, yaw_deg),
        )

    async def orbit(
        self,
        radius_m: float,
        speed_m_s: float,
        center: GeoPoint | None = None,
        relative_altitude_m: float | None = None,
    ) -> None:
        """Circle `center` (default: here) facing it, at `relative_altitude_m` (default: now).

        Sent as our own MAV_CMD_DO_ORBIT: MAVSDK's do_orbit sends COMMAND_INT in
        MAV_FRAME_GLOBAL_RELATIVE_ALT, which PX4 refuses (UNSUPPORTED_MAV_FRAME). The
        altitude is metres AMSL and always given, never NaN.
        """
        state = self._feed.state
        here = state.position
        if center is None:
            if here is None:
                raise NotReady(self.drone_id, "orbit: no position yet")
            center = here.point
        if relative_altitude_m is not None:
            amsl = self._home_amsl_m() + relative_altitude_m
        elif here is not None:
            amsl = here.absolute_altitude_m
        else:
            raise NotReady(self.drone_id, "orbit: no altitude yet")
        await self._command_int(
            MavCmd.DO_ORBIT,
            x=round(center.latitude_deg * 1e7),
            y=round(center.longitude_deg * 1e7),
            z=amsl,
            params=(radius_m, speed_m_s, float(_ORBIT_FACE_CENTER), 0.0),
        )

    async def set_roi(self, point: GeoPoint, relative_altitude_m: float = 0.0) -> None:
        """Point the vehicle (and its camera) at `point` (MAV_CMD_DO_SET_ROI_LOCATION),
        `relative_altitude_m` above home."""
        await self._command_int(
            MavCmd.DO_SET_ROI_LOCATION,
            x=round(point.latitude_deg * 1e7),
            y=round(point.longitude_deg * 1e7),
            z=self._home_amsl_m() + relative_altitude_m,
        )

    async def clear_roi(self) -> None:
        await self._command_int(MavCmd.DO_SET_ROI_NONE)

    async def _command_int(
        self,
        command: int,
        x: int = 0,
        y: int = 0,
        z: float = 0.0,
        params: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
    ) -> None:
        """Send COMMAND_INT through MavlinkDirect and wait for its COMMAND_ACK.

        Always in MAV_FRAME_GLOBAL_INT, `z` metres AMSL: PX4 refuses any other frame
        (MAV_RESULT_COMMAND_UNSUPPORTED_MAV_FRAME).
        """
        self._check_open()
        fields = {
            "target_system": self._vehicle_sysid,
            "target_component": _AUTOPILOT_COMPONENT,
            "frame": _FRAME_GLOBAL_INT,
            "command": int(command),
            "current": 0,
            "autocontinue": 0,
            "param1": params[0],
            "param2": params[1],
            "param3": params[2],
            "param4": params[3],
            "x": x,
            "y": y,
            "z": z,
        }
        message = MavlinkMessage(
            "COMMAND_INT", 0, 0, self._vehicle_sysid, _AUTOPILOT_COMPONENT, json.dumps(fields)
        )
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        entry = (int(command), future)
        self._ack_waiters.append(entry)
        direct = self._system.mavlink_direct
        what = f"command {int(command)}"
        try:

            async def send_and_wait() -> int:
                # Like MAVSDK's own commands: resend until acknowledged.
                while True:
                    await direct.send_message(message)
                    done, _ = await asyncio.wait([future], timeout=0.5)
                    if done:
                        return future.result()

            result = await self._remote(what, send_and_wait)
        finally:
            if entry in self._ack_waiters:
                self._ack_waiters.remove(entry)
        if result != 0:  # MAV_RESULT_ACCEPTED
            raise CommandRefused(self.drone_id, f"{what}: MAV_RESULT {result}")

    def _home_amsl_m(self) -> float:
        home = self._feed.state.home
        if home is None:
            raise NotReady(self.drone_id, "no home position yet")
        return home.absolute_altitude_m


def _bytewise_int(value: float) -> float:
    """An integer parameter sent bytewise in PARAM_VALUE's float (PX4's encoding)."""
    if not math.isfinite(value):
        return value
    return float(struct.unpack("<i", struct.pack("<f", value))[0])


def _ready(state: DroneState) -> bool:
    return state.health.all_ok and state.home is not None and state.position is not None


def _to_raw(item: MissionItem, current: bool = False) -> RawMissionItem:
    return RawMissionItem(
        item.seq,
        int(item.frame),
        int(item.command),
        1 if current else 0,
        1 if item.autocontinue else 0,
        float(item.param1),
        float(item.param2),
        float(item.param3),
        float(item.param4),
        int(item.x),
        int(item.y),
        float(item.z),
        int(item.mission_type),
    )


def _from_raw(raw: RawMissionItem) -> MissionItem:
    return MissionItem(
        seq=int(raw.seq),
        command=int(raw.command),
        frame=int(raw.frame),
        param1=float(raw.param1),
        param2=float(raw.param2),
        param3=float(raw.param3),
        param4=float(raw.param4),
        x=int(raw.x),
        y=int(raw.y),
        z=float(raw.z),
        mission_type=MissionType(int(raw.mission_type)),
        autocontinue=bool(raw.autocontinue),
    )
