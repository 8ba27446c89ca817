"""Errors raised by the live-video subsystem.

VideoError
├── SourceError                 a camera or drone feed cannot be used
│   ├── SourceOpenError         the URL could not be opened or has no video
│   └── SourceEndedError        the feed ended (end of file, link lost)
├── StreamClosedError           the stream or a subscription to it is closed
├── RelayError                  a viewer request cannot be served
│   ├── UnknownStreamError      no stream with that id
│   ├── UnknownSessionError     no viewer session with that id
│   ├── InvalidOfferError       the SDP offer is malformed or unusable
│   ├── OfferMediaTypeError     the offer was not sent as application/sdp
│   ├── OfferTooLargeError      the offer is larger than an offer can be
│   ├── NoCommonCodecError      the viewer supports none of the stream's codecs
│   └── RelayFullError          the stream has its maximum number of viewers
└── RecordingError              recording cannot be started or stopped
    ├── RecordingActiveError    the stream is already being recorded
    └── NoRecordingError        the stream is not being recorded
"""

from __future__ import annotations


class VideoError(Exception):
    """Base class of every live-video error."""


class SourceError(VideoError):
    """A camera or drone feed cannot be used."""


class SourceOpenError(SourceError):
    """The feed's URL could not be opened or carries no video."""


class SourceEndedError(SourceError):
    """The feed ended: end of file, or the link to the drone was lost."""


class EncoderError(VideoError):
    """The encoder rejected a picture."""


class StreamClosedError(VideoError):
    """The stream, or a subscription to it, is closed."""


class RelayError(VideoError):
    """A viewer's request cannot be served."""


class UnknownStreamError(RelayError):
    """No stream has this id."""

    def __init__(self, stream_id: str) -> None:
        super().__init__(f"unknown stream {stream_id!r}")
        self.stream_id = stream_id


class UnknownSessionError(RelayError):
    """No viewer session of this stream has this id."""

    def __init__(self, stream_id: str, session_id: str) -> None:
        super().__init__(f"unknown session {session_id!r} of stream {stream_id!r}")
        self.stream_id = stream_id
        self.session_id = session_id


class InvalidOfferError(RelayError):
    """The SDP offer is malformed or cannot receive video."""


class OfferMediaTypeError(RelayError):
    """The offer was not sent as application/sdp."""


class OfferTooLargeError(RelayError):
    """The offer is larger than any offer needs to be."""


class NoCommonCodecError(RelayError):
    """The viewer supports none of the codecs the stream can send."""


class RelayFullError(RelayError):
    """The stream already has its maximum number of viewers."""


class RecordingError(VideoError):
    """A recording cannot be started or stopped."""


class RecordingActiveError(RecordingError):
    """The stream is already being recorded."""


class NoRecordingError(RecordingError):
    """The stream is not being recorded."""
