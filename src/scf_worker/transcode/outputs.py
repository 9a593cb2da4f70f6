"""Output files of a job, their object keys, and the order they are uploaded in.

Keys are ``<outputs prefix><jobId>/<name>`` where ``name`` is fixed by the
preset (``mp4/720p.mp4``, ``hls/master.m3u8`` …), never derived from the
source key. Upload phases make HLS safe to read while it is being written:
media files and segments first, then variant playlists, the master last.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PHASE_MEDIA = 0
PHASE_VARIANT_PLAYLIST = 1
PHASE_MASTER_PLAYLIST = 2


@dataclass
class OutputFile:
    """One local file to upload, with what SCF_JOB_DONE reports about it."""

    path: Path
    name: str
    kind: str
    content_type: str
    width: int = 0
    height: int = 0
    duration_seconds: float = 0.0
    phase: int = PHASE_MEDIA
    listed: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self, key: str) -> dict[str, Any]:
        """Return the SCF_JOB_DONE entry for this output once stored under ``key``."""
        entry: dict[str, Any] = {
            "key": key, "kind": self.kind, "content_type": self.content_type,
            "size": self.size, "duration_seconds": round(self.duration_seconds, 3),
            "width": self.width, "height": self.height,
        }
        entry.update(self.extra)
        return entry

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def upload_order(outputs: list[OutputFile]) -> list[OutputFile]:
    """Sort outputs by phase, keeping the render order inside a phase."""
    return sorted(outputs, key=lambda output: output.phase)


def key_for(output_prefix: str, job_id: str, name: str) -> str:
    return f"{output_prefix}{job_id}/{name}"
