"""Run the live-video app alone: `python -m web.video.serve --synthetic drone-1`.

Used by the benchmark (one server process per measurement) and for demos;
the product's server mounts the same routers in its own application.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from web.video.app import create_video_app
from web.video.camera_state import OrbitingSubject, ScenePoint
from web.video.encoded_frame import VIDEO_CODECS, VideoCodec
from web.video.encoder import EncoderSettings
from web.video.passthrough_source import PassthroughSource
from web.video.relay import RelaySettings
from web.video.stream import StreamSettings, VideoStream
from web.video.synthetic_camera import CameraSettings
from web.video.synthetic_source import SyntheticSource

# The default deployment's first station (Pueblo, Colorado).
_DEMO_SCENE = ScenePoint(38.2544, -104.6091)


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    return int(width), int(height)


def _codecs(text: str) -> tuple[VideoCodec, ...]:
    chosen = tuple(c for c in VIDEO_CODECS if c in text.lower().split(","))
    if not chosen:
        raise argparse.ArgumentTypeError(f"codecs must be among {', '.join(VIDEO_CODECS)}")
    return chosen


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m web.video.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8088)
    parser.add_argument("--fd", type=int, help="serve on this already-bound socket")
    parser.add_argument("--synthetic", action="append", default=[], metavar="DRONE_ID")
    parser.add_argument("--feed", action="append", default=[], metavar="ID=URL")
    parser.add_argument("--loop-feeds", action="store_true", help="restart file feeds at the end")
    parser.add_argument("--size", type=_size, default=(1280, 720), metavar="WxH")
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate-bps", type=int, default=1_500_000)
    parser.add_argument("--keyframe-interval-s", type=float, default=2.0)
    parser.add_argument("--codecs", type=_codecs, default=VIDEO_CODECS)
    parser.add_argument("--encode-mode", choices=("once", "per_viewer"), default="once")
    parser.add_argument("--call-id", default=None)
    parser.add_argument("--loopback-only", action="store_true", help="ICE on 127.0.0.1 only")
    parser.add_argument("--max-viewers", type=int, default=200)
    parser.add_argument("--recordings", type=Path, default=Path("recordings"))
    parser.add_argument("--record", action="store_true", help="record every stream")
    parser.add_argument("--log-level", default="warning")
    return parser


def build_streams(args: argparse.Namespace) -> list[VideoStream]:
    settings = StreamSettings(
        codecs=args.codecs,
        encoder=EncoderSettings(
            bitrate_bps=args.bitrate_bps, keyframe_interval_s=args.keyframe_interval_s
        ),
        encode_mode=args.encode_mode,
        fps=args.fps,
    )
    width_px, height_px = args.size
    camera = CameraSettings(width_px=width_px, height_px=height_px, fps=args.fps)
    streams = [
        VideoStream(
            drone_id,
            SyntheticSource(OrbitingSubject(drone_id, _DEMO_SCENE, call_id=args.call_id), camera),
            settings,
            drone_id=drone_id,
            call_id=args.call_id,
        )
        for drone_id in args.synthetic
    ]
    for spec in args.feed:
        stream_id, _, url = spec.partition("=")
        source = PassthroughSource(url, loop=args.loop_feeds)
        streams.append(
            VideoStream(stream_id, source, settings, drone_id=stream_id, call_id=args.call_id)
        )
    return streams


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    relay_settings = RelaySettings(
        ice_addresses=("127.0.0.1",) if args.loopback_only else None,
        max_viewers_per_stream=args.max_viewers,
    )
    app = create_video_app(
        build_streams(args),
        relay_settings=relay_settings,
        recordings_dir=args.recordings,
        record=args.record,
    )
    if args.fd is not None:
        config = uvicorn.Config(app, fd=args.fd, log_level=args.log_level)
    else:
        config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level)
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
