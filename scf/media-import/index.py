"""SCF entry point for media-import; the handler lives in scf_worker.handlers.media_import."""

from scf_worker.handlers.media_import import main_handler

__all__ = ["main_handler"]
