"""SCF entry point for reconcile; the handler lives in scf_worker.handlers.reconcile."""

from scf_worker.handlers.reconcile import main_handler

__all__ = ["main_handler"]
