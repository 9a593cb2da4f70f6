"""SCF entry point for cos-callback; the handler lives in scf_worker.handlers.cos_callback."""

from scf_worker.handlers.cos_callback import main_handler

__all__ = ["main_handler"]
