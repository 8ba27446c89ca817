"""A deployment's fixed cameras, read from a CSV file and validated line by line.

The file has a header line and one camera a line::

    id,name,lat,lon,heading_deg,fov_deg,range_m,source[,agency]

`source` is an rtsp://, rtsps://, http://, https:// or file: URL (a relative file path
is read next to the CSV). A URL may carry credentials (many cameras want them); they
are never shown: `redact_url` replaces the password wherever a source is printed.

Errors::

    CameraFileError   (ValueError) the file cannot be used; the message names the file,
                      the line and the field, never a password
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from missions.cameras import MAX_RANGE_M, CameraRegistry, FixedCamera
from missions.geo import GeoPoint, LocalFrame

COLUMNS = ("id", "name", "lat", "lon", "heading_deg", "fov_deg", "range_m", "source")
OPTIONAL_COLUMNS = ("agency",)
SOURCE_SCHEMES = ("rtsp", "rtsps", "http", "https", "file")
CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_CAMERAS = 100_000


class CameraFileError(ValueError):
    """A camera file that cannot be used."""


def redact_url(url: str) -> str:
    """The URL with its password (and any token in its query) replaced, to show or log.

    >>> redact_url("rtsp://admin:s3cret@10.0.0.7:554/stream1")
    'rtsp://admin:***@10.0.0.7:554/stream1'
    >>> redact_url("https://cam.example/live.m3u8?token=abc&x=1")
    'https://cam.example/live.m3u8?token=***&x=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
    query = re.sub(
        r"((?:^|&)(?:token|access_token|password|passwd|pass|pwd|key|auth)=)[^&]*",
        r"\1***",
        parts.query,
        flags=re.IGNORECASE,
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def load_cameras(path: Path, frame: LocalFrame | None = None) -> CameraRegistry:
    """The cameras of the CSV file at `path`, indexed in `frame`.

    Raises CameraFileError naming the file, the line and the field.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CameraFileError(f"{path}: cannot read camera file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise CameraFileError(f"{path}: not UTF-8 text") from exc
    return CameraRegistry(parse_cameras(text, path), frame)


def parse_cameras(text: str, path: Path) -> list[FixedCamera]:
    """The cameras of a CSV text; `path` names the file in errors (and anchors file: URLs).

    Raises CameraFileError.
    """
    rows = csv.reader(text.splitlines())
    try:
        header = [h.strip() for h in next(rows)]
    except StopIteration:
        raise CameraFileError(f"{path}: empty camera file (it needs a header line)") from None
    except csv.Error as exc:
        raise CameraFileError(f"{path}: line 1: {exc}") from None
    missing = [c for c in COLUMNS if c not in header]
    unknown = [c for c in header if c not in COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        what = []
        if missing:
            what.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            what.append(f"unknown column(s) {', '.join(repr(u) for u in unknown)}")
        raise CameraFileError(
            f"{path}: line 1: {'; '.join(what)} (columns: {','.join(COLUMNS)}[,agency])"
        )
    if len(set(header)) != len(header):
        raise CameraFileError(f"{path}: line 1: a column is named twice")
    cameras: list[FixedCamera] = []
    seen: dict[str, int] = {}
    line = 1
    try:
        for line, row in enumerate(rows, start=2):
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise CameraFileError(
                    f"{path}: line {line}: {len(row)} fields, the header has {len(header)}"
                )
            camera = _camera(dict(zip(header, (c.strip() for c in row), strict=True)), path, line)
            if camera.id in seen:
                raise CameraFileError(
                    f"{path}: line {line}: field 'id': duplicate camera id {camera.id!r} "
                    f"(first on line {seen[camera.id]})"
                )
            seen[camera.id] = line
            cameras.append(camera)
            if len(cameras) > MAX_CAMERAS:
                raise CameraFileError(f"{path}: more than {MAX_CAMERAS} cameras")
    except csv.Error as exc:
        raise CameraFileError(f"{path}: line {line}: {exc}") from None
    return cameras


def _camera(row: dict[str, str], path: Path, line: int) -> FixedCamera:
    where = f"{path}: line {line}"

    def number(name: str, low: float, high: float, low_open: bool = False) -> float:
        raw = row[name]
        try:
            value = float(raw)
        except ValueError:
            raise CameraFileError(f"{where}: field {name!r}: not a number: {raw[:40]!r}") from None
        if not math.isfinite(value):
            raise CameraFileError(f"{where}: field {name!r}: must be finite, got {raw[:40]!r}")
        below = value <= low if low_open else value < low
        if below or value > high:
            opening = "(" if low_open else "["
            raise CameraFileError(
                f"{where}: field {name!r}: {value:g} is outside {opening}{low:g}, {high:g}]"
            )
        return value

    camera_id = row["id"]
    if not CAMERA_ID.match(camera_id):
        raise CameraFileError(
            f"{where}: field 'id': {camera_id[:70]!r} is not 1-64 letters, digits, '_', '.' "
            "or '-' (starting with a letter or digit)"
        )
    name = row["name"]
    if not name or len(name) > 120:
        raise CameraFileError(f"{where}: field 'name': must be 1-120 characters")
    lat = number("lat", -90, 90)
    lon = number("lon", -180, 180)
    heading = number("heading_deg", -360, 360)
    fov = number("fov_deg", 0, 360, low_open=True)
    range_m = number("range_m", 0, MAX_RANGE_M, low_open=True)
    source = _source(row["source"], path, where)
    agency = row.get("agency") or None
    return FixedCamera(
        id=camera_id,
        name=name,
        position=GeoPoint(lat, lon),
        heading_deg=heading % 360.0,
        fov_deg=fov,
        range_m=range_m,
        source=source,
        agency=agency,
    )


def _source(url: str, path: Path, where: str) -> str:
    """The source URL, a relative file: path made absolute. Raises CameraFileError
    (showing the URL redacted)."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise CameraFileError(f"{where}: field 'source': not a URL: {shown!r}") from None
    if parts.scheme not in SOURCE_SCHEMES:
        raise CameraFileError(
            f"{where}: field 'source': {shown!r} must be an "
            f"{', '.join(s + ':' for s in SOURCE_SCHEMES)} URL"
        )
    if parts.scheme == "file":
        if parts.netloc or not parts.path:
            raise CameraFileError(f"{where}: field 'source': {shown!r}: write file:PATH")
        file = Path(parts.path)
        if not file.is_absolute():
            file = (path.parent / file).resolve()
        return f"file:{file}"
    if not parts.hostname:
        raise CameraFileError(f"{where}: field 'source': {shown!r} names no host")
    if parts.password is not None and not parts.username:
        raise CameraFileError(f"{where}: field 'source': {shown!r}: a password without a user")
    if any(ch.isspace() for ch in url):
        raise CameraFileError(f"{where}: field 'source': {shown!r} contains white space")
    return url
