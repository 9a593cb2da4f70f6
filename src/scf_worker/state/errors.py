"""Errors of the state capability."""


class StateError(Exception):
    """The state store failed or is unreachable; callers treat this as transient."""


class UnsupportedStateUrl(StateError):
    """``STATE_URL`` names a scheme this build does not support."""
