"""SCF entry point for webhook-forward; the handler lives in scf_worker.handlers.webhook_forward."""

from scf_worker.handlers.webhook_forward import main_handler

__all__ = ["main_handler"]
