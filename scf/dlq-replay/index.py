"""SCF entry point for dlq-replay; the handler lives in scf_worker.handlers.dlq_replay."""

from scf_worker.handlers.dlq_replay import main_handler

__all__ = ["main_handler"]
