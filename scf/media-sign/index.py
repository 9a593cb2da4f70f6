"""SCF entry point for media-sign; the handler lives in scf_worker.handlers.media_sign."""

from scf_worker.handlers.media_sign import main_handler

__all__ = ["main_handler"]
