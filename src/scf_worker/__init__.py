"""scf-worker: Tencent Cloud SCF functions for media uploads, transcoding and webhooks."""

__version__ = "0.1.0"
