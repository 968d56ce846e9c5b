"""Server-owned trace archival: MLflow's ``archive_traces``, the scheduler's
``resolve_trace_archival_config`` and ``supports_trace_archival`` (MLflow's server refuses an
archival config unless the tracking store says it supports it). The pass itself is in
``archival/runner.py``; docs/trace-archival.md describes it."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import cached_property

from mlflow.entities import Experiment
from mlflow.exceptions import MlflowException
from mlflow.store.workspace.abstract_store import ResolvedTraceArchivalConfig

from mlflow_dynamodbstore.archival.runner import ArchivalPass
from mlflow_dynamodbstore.compat import archival as mlflow_archival
from mlflow_dynamodbstore.repositories.traces.archival import TraceArchivalRepository

_logger = logging.getLogger(__name__)


class TraceArchivalOps:
    """Mixed into DynamoDBTrackingStore (``traces``, ``experiments``, ``store_uri``,
    ``_get_active_workspace`` and ``_workspaces_enabled`` come from it)."""

    @property
    def supports_trace_archival(self) -> bool:
        return mlflow_archival.AVAILABLE

    @cached_property
    def trace_archival(self) -> TraceArchivalRepository:
        return TraceArchivalRepository(self.traces, self.experiments)

    def archive_traces(
        self,
        *,
        resolved_trace_archival_location: str,
        broader_retention: str,
        long_retention_allowlist: set[str] | list[str] | None = None,
        max_traces_per_pass: int | None = None,
    ) -> int:
        return ArchivalPass(self.trace_archival, self._get_active_workspace()).run(
            location=resolved_trace_archival_location,
            broader_retention=broader_retention,
            long_retention_allowlist=long_retention_allowlist,
            max_traces_per_pass=max_traces_per_pass,
        )

    def resolve_trace_archival_config(
        self,
        *,
        default_trace_archival_location: str,
        default_retention: str,
    ) -> ResolvedTraceArchivalConfig:
        """Without workspaces, the broader defaults (MLflow's base store); with them, the
        configured workspace provider's answer for the request's workspace, as MLflow's
        workspace-aware SQL store."""
        if not self._workspaces_enabled():
            return super().resolve_trace_archival_config(
                default_trace_archival_location=default_trace_archival_location,
                default_retention=default_retention,
            )
        return self._archival_workspace_provider.resolve_trace_archival_config(
            default_trace_archival_location, default_retention, self._get_active_workspace()
        )

    @cached_property
    def _archival_workspace_provider(self):
        from mlflow.tracking._workspace.registry import get_workspace_store
        from mlflow.utils import workspace_utils

        uri = workspace_utils.resolve_workspace_store_uri(tracking_uri=self.store_uri)
        return get_workspace_store(workspace_uri=uri)

    # ---- experiments' effective retention --------------------------------------------
    def _effective_retention_context(self) -> tuple[str, set[str]] | None:
        """(broader retention, long-retention allowlist) when the server has archival on
        (MLflow's ``--trace-archival-config``, read through MLflow), else None: the SQL
        store's ``_get_effective_experiment_trace_archival_retention_context``. With
        workspaces the request's workspace may override the broader retention."""
        if not mlflow_archival.AVAILABLE:
            return None
        try:
            config = mlflow_archival.get_trace_archival_server_config()
            if config is None or not config.enabled:
                return None
            resolved = self.resolve_trace_archival_config(
                default_trace_archival_location=config.location,
                default_retention=config.retention,
            ).with_broader_defaults(
                default_location=config.location, default_retention=config.retention
            )
            return (
                mlflow_archival._validate_trace_archival_retention_string(
                    resolved.config.retention
                ),
                set(config.long_retention_allowlist),
            )
        except MlflowException:
            _logger.warning(
                "Ignoring invalid trace archival configuration while resolving effective "
                "experiment retention.",
                exc_info=True,
            )
            return None

    def _with_effective_retention(self, experiments: Iterable[Experiment]) -> None:
        """Fill each experiment's ``effective_trace_archival_retention`` as the SQL store
        does (its tag against the broader retention and the allowlist); left None when
        the server has no archival config."""
        context = self._effective_retention_context()
        if context is None:
            return
        broader, allowlist = context
        for experiment in experiments:
            experiment.effective_trace_archival_retention = (
                mlflow_archival._resolve_effective_trace_archival_retention(
                    experiment_id=str(experiment.experiment_id),
                    experiment_tags=dict(experiment.tags),
                    broader_retention=broader,
                    long_retention_allowlist=allowlist,
                )
            )
