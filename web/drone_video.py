"""The fleet's live video: one stream per drone, recorded for each sortie.

A drone with a `video` URL in the deployment has its own feed relayed (its
packets forwarded where the codec allows); a simulated drone gets the
synthetic camera, drawn from the drone's own telemetry as the fleet receives
it. Streams exist from start-up; a camera nobody watches or records costs
nothing. Each sortie's stream is recorded from launch to landing, with a
SHA-256 and a manifest (drone, call, sortie, start and end) for chain of custody.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dfr.deployment import Deployment
from dfr.loopback import is_loopback
from dfr.settings import Settings
from dfr.store import CallRecord
from stations.fleet import Fleet
from web.video.app import VideoServices, create_video_services, running_video
from web.video.camera_state import CameraState, ScenePoint
from web.video.errors import VideoError
from web.video.ice_servers import IceServers
from web.video.passthrough_source import PassthroughSource, is_file_url
from web.video.recorder import finalise_interrupted
from web.video.relay import RelaySettings
from web.video.stream import StreamSettings, VideoStream
from web.video.synthetic_camera import CameraSettings
from web.video.synthetic_source import SyntheticSource

log = logging.getLogger(__name__)


ServedCall = Callable[[str], CallRecord | None]
"""The call a station's drone is flying for, if any (by station id)."""


class FleetCamera:
    """A CameraSubject: what a station's drone reports, and the call it serves."""

    def __init__(
        self, deployment: Deployment, fleet: Fleet, served: ServedCall, station_id: str
    ) -> None:
        self._fleet = fleet
        self._served = served
        self._station = deployment.station(station_id)

    def camera_state(self) -> CameraState:
        station = self._station
        state = self._fleet.state(station.id)
        pos = state.position
        call = self._served(station.id)
        return CameraState(
            drone_id=station.drone.id,
            latitude_deg=pos.latitude_deg if pos else station.position.latitude_deg,
            longitude_deg=pos.longitude_deg if pos else station.position.longitude_deg,
            relative_altitude_m=pos.relative_altitude_m if pos else 0.0,
            heading_deg=state.heading_deg or 0.0,
            ground_speed_m_s=state.ground_speed_m_s or 0.0,
            battery_pct=state.battery_pct if state.battery_pct is not None else 0.0,
            call_id=str(call.id) if call else None,
            scene=ScenePoint(call.latitude_deg, call.longitude_deg) if call else None,
        )


class DroneVideo:
    """The video service the sortie runner reports sorties to."""

    def __init__(self, deployment: Deployment, served: ServedCall, services: VideoServices) -> None:
        self._deployment = deployment
        self._served = served
        self.services = services
        self.manifests: list[dict[str, Any]] = []
        #: Manifests of recordings a crash cut short, finalised at start-up.
        self.recovered: list[dict[str, Any]] = []

    @property
    def relay(self) -> Any:
        return self.services.relay

    @staticmethod
    def services_for(settings: Settings) -> VideoServices:
        """The relay, catalog and recordings, built (not started) before the app serves."""
        video = VideoSettings.of(settings)
        return create_video_services(video.relay, recordings_dir=video.recordings_dir)

    @classmethod
    @contextlib.asynccontextmanager
    async def running(
        cls,
        settings: Settings,
        deployment: Deployment,
        fleet: Fleet,
        served: ServedCall,
        services: VideoServices,
    ) -> AsyncIterator[DroneVideo]:
        """One stream per station's drone, relayed until the block exits. Recordings a
        crash cut short are finalised first (`recovered`)."""
        video = VideoSettings.of(settings)
        recovered = []
        if video.recordings_dir.is_dir():
            found = await asyncio.to_thread(finalise_interrupted, video.recordings_dir)
            recovered = [asdict(m) for m in found]
        streams = [
            _stream_for(video, deployment, fleet, served, station.id)
            for station in deployment.stations
        ]
        async with running_video(services, streams):
            drone_video = cls(deployment, served, services)
            drone_video.recovered = recovered
            yield drone_video

    def streams(self) -> list[dict[str, Any]]:
        out = []
        for station in self._deployment.stations:
            call = self._served(station.id)
            out.append(
                {
                    "stream_id": station.drone.id,
                    "drone_id": station.drone.id,
                    "station_id": station.id,
                    "call_id": call.id if call else None,
                    "whep_url": f"/whep/{station.drone.id}",
                    "recording": station.drone.id in self.services.recordings.active(),
                }
            )
        return out

    async def sortie_started(self, drone_id: str, call_id: int, sortie_id: int) -> None:
        """Record the drone's stream for this sortie."""
        stream = self.services.catalog.get(drone_id)
        stream.call_id = str(call_id)
        try:
            await self.services.recordings.start(drone_id, sortie_id)
        except VideoError as exc:
            log.error("%s: recording for sortie %d did not start: %s", drone_id, sortie_id, exc)

    def sortie_call_changed(self, drone_id: str, call_id: int) -> None:
        """The drone was re-tasked in flight: its stream (and recording) serves this call."""
        self.services.catalog.get(drone_id).call_id = str(call_id)

    async def sortie_ended(self, drone_id: str, sortie_id: int) -> dict[str, Any] | None:
        """Finish the sortie's recording; returns its manifest."""
        try:
            manifest = await self.services.recordings.stop(drone_id)
        except VideoError as exc:
            log.error("%s: no recording to finish for sortie %d: %s", drone_id, sortie_id, exc)
            return None
        finally:
            self.services.catalog.get(drone_id).call_id = None
        data = asdict(manifest)
        self.manifests.append(data)
        return data


@dataclass(frozen=True, slots=True)
class VideoSettings:
    """The video side's settings, from the one settings object."""

    relay: RelaySettings
    camera: CameraSettings
    stream: StreamSettings
    recordings_dir: Path

    @classmethod
    def of(cls, s: Settings) -> VideoSettings:
        # Viewers of a server on loopback are on this machine: keep media there too.
        ice = (s.host,) if is_loopback(s.host) else None
        return cls(
            relay=RelaySettings(
                ice_addresses=ice,
                ice_servers=IceServers(
                    s.video_stun_urls,
                    s.video_turn_urls,
                    s.video_turn_secret,
                    s.video_turn_credential_ttl_s,
                ),
            ),
            camera=CameraSettings(
                width_px=s.video_width, height_px=s.video_height, fps=s.video_fps
            ),
            stream=StreamSettings(fps=s.video_fps),
            recordings_dir=s.recordings_dir,
        )


def _stream_for(
    video: VideoSettings,
    deployment: Deployment,
    fleet: Fleet,
    served: ServedCall,
    station_id: str,
) -> VideoStream:
    station = deployment.station(station_id)
    url = station.drone.video_url
    if url:
        # A file (a demo or test feed) plays in a loop, as a camera would run on.
        source: Any = PassthroughSource(url, loop=is_file_url(url))
    else:
        source = SyntheticSource(FleetCamera(deployment, fleet, served, station_id), video.camera)
    return VideoStream(station.drone.id, source, video.stream, drone_id=station.drone.id)
