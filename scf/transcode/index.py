"""SCF entry point for transcode; the handler lives in scf_worker.handlers.transcode."""

from scf_worker.handlers.transcode import main_handler

__all__ = ["main_handler"]
