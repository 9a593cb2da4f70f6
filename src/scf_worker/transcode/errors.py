"""Errors of the transcode capability, each classified for the retry policy."""

from __future__ import annotations

from scf_worker.retry.policy import PermanentError, TransientError


class InvalidMedia(PermanentError):
    """The input is not media ffmpeg can read, whatever its MIME type or extension."""

    def __init__(self, message: str) -> None:
        super().__init__("invalid_media", message)


class FfmpegFailed(PermanentError):
    """ffmpeg exited non-zero on a readable input (unsupported codec or parameters)."""

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


class FfmpegNotFound(Exception):
    """No ffmpeg binary: set FFMPEG_BINARY, install ffmpeg, or install scf-worker[media]."""
