"""Errors of the queue capability."""


class QueueError(Exception):
    """A queue operation failed; callers treat it as transient and try again later."""


class QueueUnavailable(QueueError):
    """The broker or database behind the queue cannot be reached."""


class UnsupportedQueueUrl(QueueError):
    """``QUEUE_URL`` names a scheme this build does not support."""
