"""Errors of the transcode capability, each classified for the retry policy.

Permanent: the input or the request can never succeed (invalid or corrupt
media, unsupported codecs, bad job parameters, a source too big for scratch
space). Transient: the same job may succeed on another attempt (deadline
reached, ffmpeg killed by the OOM killer, scratch disk full, storage 5xx).
"""

from __future__ import annotations

from scf_worker.retry.policy import PermanentError, TransientError


class InvalidMedia(PermanentError):
    """The input is not media ffmpeg can read, whatever its MIME type or extension."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_media", message)


class UnsupportedCodec(PermanentError):
    """The input is media, but this ffmpeg build has no decoder for one of its streams."""

    def __init__(self, message: str) -> None:
        super().__init__("unsupported_codec", message)


class InvalidTranscodeParams(PermanentError):
    """A job parameter or a ``TRANSCODE_*`` setting has a value the presets cannot use."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_params", message)


class SourceTooLarge(PermanentError):
    """The source does not fit the scratch space even before any output is written."""

    def __init__(self, message: str) -> None:
        super().__init__("source_too_large", message)


class FfmpegFailed(PermanentError):
    """ffmpeg exited non-zero on a readable input for a reason retrying will not change."""

    def __init__(self, message: str) -> None:
        super().__init__("ffmpeg_failed", message)


class OutputInvalid(PermanentError):
    """An output failed its ffprobe check; nothing was uploaded."""

    def __init__(self, message: str) -> None:
        super().__init__("output_invalid", message)


class TranscodeTimeout(TransientError):
    """ffmpeg passed the invocation's deadline and was killed; nothing was uploaded."""

    def __init__(self, message: str) -> None:
        super().__init__("timeout", message)


class FfmpegKilled(TransientError):
    """ffmpeg was killed by a signal it did not get from us, usually the OOM killer."""

    def __init__(self, message: str) -> None:
        super().__init__("oom_killed", message)


class ScratchFull(TransientError):
    """The scratch directory ran out of space while ffmpeg was writing."""

    def __init__(self, message: str) -> None:
        super().__init__("scratch_full", message)


class StorageUnavailable(TransientError):
    """The object store failed with a 5xx, a throttle or a connection error."""

    def __init__(self, message: str) -> None:
        super().__init__("storage_unavailable", message)


class StorageRejected(PermanentError):
    """The object store refused the request with a 4xx (permissions, bad request)."""

    def __init__(self, message: str) -> None:
        super().__init__("storage_rejected", message)


class FfmpegNotFound(Exception):
    """No ffmpeg binary: set FFMPEG_BINARY, install ffmpeg, or install scf-worker[media]."""
