"""The local stack behind ``scf-worker dev``, ``invoke`` and ``event generate``."""

from scf_worker.devstack.stack import DevStack

__all__ = ["DevStack"]
