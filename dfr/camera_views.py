"""The fixed cameras as the consoles see them: which cover a call, which stand near a point,
and the live stream each is watched through (`cam-<id>`, never a drone's id).

A camera's video is opened only while someone watches it (see web.camera_video); its
source URL is shown with any password redacted.
"""

from __future__ import annotations

from typing import Any

from dfr.camera_file import redact_url
from missions.cameras import CameraRegistry, CameraSighting
from missions.geo import GeoPoint

#: Every camera's stream id starts with this; a drone id may not (dfr.deployment).
CAMERA_STREAM_PREFIX = "cam-"


def camera_stream_id(camera_id: str) -> str:
    """
    >>> camera_stream_id("main-4th")
    'cam-main-4th'
    """
    return CAMERA_STREAM_PREFIX + camera_id


def camera_of_stream(stream_id: str) -> str | None:
    """The camera id a stream id names, or None for any other stream (a drone's).

    >>> camera_of_stream("cam-main-4th"), camera_of_stream("dfr-1")
    ('main-4th', None)
    """
    if stream_id.startswith(CAMERA_STREAM_PREFIX):
        return stream_id[len(CAMERA_STREAM_PREFIX) :] or None
    return None


def sighting_view(sighting: CameraSighting) -> dict[str, Any]:
    """One camera for the API and the pages: where it is, what it looks at, how far the
    point asked about is, and how to watch it."""
    camera = sighting.camera
    stream_id = camera_stream_id(camera.id)
    return {
        "id": camera.id,
        "name": camera.name,
        "latitude_deg": camera.position.latitude_deg,
        "longitude_deg": camera.position.longitude_deg,
        "heading_deg": camera.heading_deg,
        "fov_deg": camera.fov_deg,
        "range_m": camera.range_m,
        "agency": camera.agency,
        "source": redact_url(camera.source),
        "distance_m": round(sighting.distance_m, 1),
        "bearing_deg": round(sighting.bearing_deg, 1),
        "stream_id": stream_id,
        "whep_url": f"/whep/{stream_id}",
    }


def covering_views(registry: CameraRegistry, scene: GeoPoint, limit: int) -> list[dict[str, Any]]:
    """The cameras whose view covers `scene`, nearest first, at most `limit`."""
    return [sighting_view(s) for s in registry.covering(scene, limit)]


def nearby_views(
    registry: CameraRegistry, point: GeoPoint, within_m: float, limit: int
) -> list[dict[str, Any]]:
    """The cameras within `within_m` of `point`, whatever they look at, nearest first."""
    return [sighting_view(s) for s in registry.nearest(point, limit, within_m)]
