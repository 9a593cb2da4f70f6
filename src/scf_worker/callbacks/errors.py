"""Errors of the callback capability."""


class CallbackError(Exception):
    """Base class for cos-callback failures."""


class RecordRejected(CallbackError):
    """A COS record cannot be used (wrong bucket, unsafe key); acknowledged, never retried."""

    def __init__(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        super().__init__(message)
