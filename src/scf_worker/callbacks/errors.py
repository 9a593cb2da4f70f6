"""Errors of the callback capability."""


class CallbackError(Exception):
    """Base class for cos-callback failures."""


class RecordRejected(CallbackError):
    """A COS record cannot be used (wrong bucket, unsafe key); acknowledged, never retried."""

    def __init__(self, outcome: str, message: str) -> None:
        self.outcome = outcome
        super().__init__(message)


class RecordsPending(CallbackError):
    """Some records of a COS event could not finish now; raised so SCF retries the event.

    The records that did finish are idempotent, so the retry only finishes the rest.
    """

    def __init__(self, pending: int, total: int) -> None:
        self.pending = pending
        super().__init__(f"{pending} of {total} records are held by another invocation or hit a"
                         " transient store error; SCF retries the event")
