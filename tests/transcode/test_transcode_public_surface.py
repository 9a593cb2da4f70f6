from __future__ import annotations

import importlib
import inspect

import scf_worker.transcode as transcode
from scf_worker.retry.policy import PermanentError, TransientError

MODULES = ("errors", "fanout", "options", "outputs", "probe", "runner", "service")


def test_all_names_resolve() -> None:
    for name in transcode.__all__:
        assert hasattr(transcode, name), name


def test_every_error_class_is_exported() -> None:
    errors = importlib.import_module("scf_worker.transcode.errors")
    defined = {name for name, value in vars(errors).items()
               if inspect.isclass(value) and issubclass(value, Exception)
               and value.__module__ == errors.__name__}

    assert defined <= set(transcode.__all__)


def test_error_classes_map_to_retry_classes() -> None:
    permanent = [transcode.InvalidMedia, transcode.UnsupportedCodec, transcode.InvalidTranscodeParams,
                 transcode.SourceTooLarge, transcode.FfmpegFailed, transcode.OutputInvalid,
                 transcode.StorageRejected]
    transient = [transcode.TranscodeTimeout, transcode.FfmpegKilled, transcode.ScratchFull,
                 transcode.StorageUnavailable]

    assert all(issubclass(cls, PermanentError) for cls in permanent)
    assert all(issubclass(cls, TransientError) for cls in transient)
    assert [cls("x").code for cls in transient] == ["timeout", "oom_killed", "scratch_full",
                                                    "storage_unavailable"]


def test_modules_import() -> None:
    for module in MODULES:
        importlib.import_module(f"scf_worker.transcode.{module}")
