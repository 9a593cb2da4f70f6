"""Transcode capability: probe, render presets with ffmpeg, check, store, and fan out long media."""

from scf_worker.transcode.errors import (
    FfmpegFailed,
    FfmpegKilled,
    FfmpegNotFound,
    InvalidMedia,
    InvalidTranscodeParams,
    OutputInvalid,
    ScratchFull,
    SourceTooLarge,
    StorageRejected,
    StorageUnavailable,
    TranscodeTimeout,
    UnsupportedCodec,
)
from scf_worker.transcode.fanout import SEGMENT_JOB_TYPE, FanOut
from scf_worker.transcode.options import TranscodeOptions, config_from_env, options_for
from scf_worker.transcode.outputs import OutputFile
from scf_worker.transcode.probe import MediaInfo, keyframe_times, probe
from scf_worker.transcode.runner import Progress, RunResult, run_ffmpeg
from scf_worker.transcode.service import TranscodeService

__all__ = [
    "SEGMENT_JOB_TYPE",
    "FanOut",
    "FfmpegFailed",
    "FfmpegKilled",
    "FfmpegNotFound",
    "InvalidMedia",
    "InvalidTranscodeParams",
    "MediaInfo",
    "OutputFile",
    "OutputInvalid",
    "Progress",
    "RunResult",
    "ScratchFull",
    "SourceTooLarge",
    "StorageRejected",
    "StorageUnavailable",
    "TranscodeOptions",
    "TranscodeService",
    "TranscodeTimeout",
    "UnsupportedCodec",
    "config_from_env",
    "keyframe_times",
    "options_for",
    "probe",
    "run_ffmpeg",
]
