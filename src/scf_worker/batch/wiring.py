"""Build the batch services once per cold start and keep them in ``Services.extensions``."""

from __future__ import annotations

from scf_worker.app import Services
from scf_worker.batch.config import BatchSettings, load_batch_settings
from scf_worker.batch.importer import Importer
from scf_worker.batch.reconcile import Reconciler


def batch_settings(services: Services) -> BatchSettings:
    settings: BatchSettings | None = services.extensions.get("batch_settings")
    if settings is None:
        settings = load_batch_settings(services.settings)
        services.extensions["batch_settings"] = settings
    return settings


def importer_for(services: Services) -> Importer:
    importer: Importer | None = services.extensions.get("importer")
    if importer is None:
        importer = Importer(services.settings, batch_settings(services), services.jobs, services.store,
                            services.scratch_root, services.clock)
        services.extensions["importer"] = importer
    return importer


def reconciler_for(services: Services) -> Reconciler:
    reconciler: Reconciler | None = services.extensions.get("reconciler")
    if reconciler is None:
        reconciler = Reconciler(services.settings, batch_settings(services), services.jobs, services.store,
                                services.retry_policy, services.clock)
        services.extensions["reconciler"] = reconciler
    return reconciler
