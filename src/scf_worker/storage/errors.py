"""Errors of the storage capability."""


class StorageError(Exception):
    """The object store failed; transient unless a subclass says otherwise."""


class ObjectNotFound(StorageError):
    """The object does not exist (HEAD or GET answered 404)."""


class InvalidObjectKey(StorageError):
    """The key has ``.`` or ``..`` segments, control characters, or is empty."""
