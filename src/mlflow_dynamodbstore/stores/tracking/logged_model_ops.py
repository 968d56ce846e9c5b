"""Logged model operations of the tracking store facade (MLflow 3 ``LoggedModel``), with the
SQL store's rules, messages and error codes (mlflow/store/tracking/sqlalchemy_store.py).

Metrics logged to a run with a ``model_id`` are also the model's metrics: ``log_batch`` and
``log_metric`` are extended here (``super()`` logs the run side) rather than in RunOps.
Where the SQL store answers with its database's integrity error (a duplicate param or tag
key, an unknown model id on a metric), this store answers BAD_REQUEST as well, with a
readable message.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from functools import cached_property

from mlflow.entities import (
    LifecycleStage,
    LoggedModel,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.uri import append_to_uri_path

from mlflow_dynamodbstore.compat.helpers import _generate_random_name
from mlflow_dynamodbstore.compat.validation import (
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_logged_model_name,
    _validate_metric,
    _validate_param_keys_unique,
    _validate_run_id,
)
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.repositories.logged_models.metrics import (
    LoggedModelMetricConflict,
    LoggedModelMetricRepository,
    metric_row,
)
from mlflow_dynamodbstore.repositories.logged_models.repository import (
    LoggedModelMissing,
    LoggedModelParamExists,
    LoggedModelRepository,
    LoggedModelTagMissing,
    LoggedModelTooLarge,
    is_active,
    to_logged_model,
)
from mlflow_dynamodbstore.search.logged_models.search import search_logged_models
from mlflow_dynamodbstore.stores.tracking.experiment_ops import experiment_not_active

MODELS_FOLDER_NAME = "models"
ARTIFACTS_FOLDER_NAME = "artifacts"


def _not_found(model_id: str) -> MlflowException:
    return MlflowException(f"Logged model with ID '{model_id}' not found.", RESOURCE_DOES_NOT_EXIST)


def _unique_keys(entries, what: str) -> dict[str, str]:
    """Keys must be unique and values present (the SQL primary key and NOT NULL)."""
    values: dict[str, str] = {}
    for entry in entries or []:
        if entry.key in values:
            raise MlflowException(f"Duplicate logged model {what} key '{entry.key}'.", BAD_REQUEST)
        if entry.value is None:
            raise MlflowException(f"Logged model {what} '{entry.key}' has no value.", BAD_REQUEST)
        values[entry.key] = entry.value
    return values


class LoggedModelOps:
    """Mixed into DynamoDBTrackingStore before RunOps (it extends ``log_batch`` and
    ``log_metric``); uses ``gateway``, ``get_experiment``, ``get_run`` and
    ``_get_active_workspace``."""

    @cached_property
    def logged_models(self) -> LoggedModelRepository:
        return LoggedModelRepository(self.gateway)

    @cached_property
    def logged_model_metrics(self) -> LoggedModelMetricRepository:
        return LoggedModelMetricRepository(self.gateway)

    @contextlib.contextmanager
    def _logged_model_errors(self, model_id: str) -> Iterator[None]:
        try:
            yield
        except LoggedModelMissing:
            raise _not_found(model_id) from None
        except LoggedModelTooLarge:
            raise MlflowException(
                f"Logged model {model_id} cannot hold more tags and params "
                "(DynamoDB's 400 KB item limit).",
                INVALID_PARAMETER_VALUE,
            ) from None

    # ---- create / read / finalize / delete -------------------------------------------
    def create_logged_model(
        self,
        experiment_id: str,
        name: str | None = None,
        source_run_id: str | None = None,
        tags: list[LoggedModelTag] | None = None,
        params: list[LoggedModelParameter] | None = None,
        model_type: str | None = None,
    ) -> LoggedModel:
        _validate_logged_model_name(name)
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise experiment_not_active(experiment.experiment_id, experiment.lifecycle_stage)
        param_values = _unique_keys(params, "param")
        tag_values = _unique_keys(tags, "tag")
        model_id = f"m-{uuid.uuid4().hex}"
        now = get_current_time_millis()
        item = {
            "model_id": model_id,
            "experiment_id": str(experiment.experiment_id),
            "workspace": self._get_active_workspace(),
            "name": name or _generate_random_name(),
            "artifact_location": append_to_uri_path(
                experiment.artifact_location, MODELS_FOLDER_NAME, model_id, ARTIFACTS_FOLDER_NAME
            ),
            "creation_timestamp_ms": now,
            "last_updated_timestamp_ms": now,
            "model_type": model_type,
            "status": LoggedModelStatus.PENDING.to_int(),
            "lifecycle_stage": LifecycleStage.ACTIVE,
            "source_run_id": source_run_id,
            "status_message": None,
            "tags": tag_values,
            "params": param_values,
        }
        with self._logged_model_errors(model_id):
            self.logged_models.create(item)
        return to_logged_model(item, None)

    def get_logged_model(self, model_id: str, allow_deleted: bool = False) -> LoggedModel:
        with self._logged_model_errors(model_id):
            meta, rows = self.logged_models.get_partition(str(model_id))
        if not allow_deleted and not is_active(meta):
            raise _not_found(model_id)
        return to_logged_model(meta, rows)

    def finalize_logged_model(self, model_id: str, status: LoggedModelStatus) -> LoggedModel:
        if not isinstance(status, LoggedModelStatus):
            raise MlflowException.invalid_parameter_value(
                f"Invalid logged model status: {status!r}."
            )
        with self._logged_model_errors(model_id):
            meta = self.logged_models.update(
                model_id,
                self._get_active_workspace(),
                {"status": status.to_int(), "last_updated_timestamp_ms": get_current_time_millis()},
            )
        return to_logged_model(meta, self.logged_model_metrics.rows(meta))

    def delete_logged_model(self, model_id: str) -> None:
        """A soft delete, as the SQL store (the model stays readable with allow_deleted)."""
        with self._logged_model_errors(model_id):
            self.logged_models.set_lifecycle(
                model_id,
                self._get_active_workspace(),
                LifecycleStage.DELETED,
                get_current_time_millis(),
            )

    # ---- garbage collection (``mlflow gc``) -------------------------------------------
    def _get_deleted_logged_models(self, older_than: int = 0) -> list[str]:
        """Ids of the workspace's deleted models last updated at least ``older_than`` ms ago:
        per experiment of the workspace, 1 Query of the ``deleted#`` part of its GSI4 listing
        (an admin path, not a request path)."""
        cutoff = get_current_time_millis() - older_than
        workspace = self._get_active_workspace()
        ids = []
        for experiment in self.experiments.list_in_workspace(workspace):
            for meta in self.logged_models.list_in_experiment(
                experiment["experiment_id"], LifecycleStage.DELETED
            ):
                if int(meta["last_updated_timestamp_ms"]) <= cutoff:
                    ids.append(meta["model_id"])
        return ids

    def _hard_delete_logged_model(self, model_id: str) -> None:
        with self._logged_model_errors(model_id):
            self.logged_models.delete_partition(model_id)

    # ---- tags and params -------------------------------------------------------------
    def set_logged_model_tags(self, model_id: str, tags: list[LoggedModelTag]) -> None:
        # A repeated key keeps its last value, as the SQL store's dedupe before its upsert.
        values = {tag.key: tag.value for tag in tags or []}
        for key, value in values.items():
            if value is None:
                raise MlflowException(f"Logged model tag '{key}' has no value.", BAD_REQUEST)
        with self._logged_model_errors(model_id):
            self.logged_models.set_tags(model_id, self._get_active_workspace(), values)

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        try:
            with self._logged_model_errors(model_id):
                self.logged_models.delete_tag(model_id, self._get_active_workspace(), key)
        except LoggedModelTagMissing:
            raise MlflowException(
                f"No tag with key {key!r} found for model with ID {model_id!r}.",
                RESOURCE_DOES_NOT_EXIST,
            ) from None

    def log_logged_model_params(self, model_id: str, params: list[LoggedModelParameter]):
        values = _unique_keys(params, "param")
        try:
            with self._logged_model_errors(model_id):
                self.logged_models.add_params(model_id, self._get_active_workspace(), values)
        except LoggedModelParamExists as exc:
            raise MlflowException(
                f"Param with key '{exc.key}' was already logged for model '{model_id}'; "
                "logged model params cannot change.",
                BAD_REQUEST,
            ) from None

    # ---- search ----------------------------------------------------------------------
    def search_logged_models(
        self,
        experiment_ids: list[str],
        filter_string: str | None = None,
        datasets: list[dict] | None = None,
        max_results: int | None = None,
        order_by: list[dict] | None = None,
        page_token: str | None = None,
    ) -> PagedList[LoggedModel]:
        return search_logged_models(
            self.logged_models,
            self.logged_model_metrics,
            experiment_ids,
            filter_string=filter_string,
            datasets=datasets,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
            fts=TrigramIndex(self.gateway, self._conn.settings),
            workspace=self._get_active_workspace(),
        )

    # ---- metrics linked to models ----------------------------------------------------
    def _model_metric_rows(self, run_id: str, metrics: list[Metric]) -> dict[str, list]:
        """Per model, the rows to write for the metrics that carry a model id, checked before
        anything is logged: the run must exist and be active (1 Query), the models must
        exist (1 BatchGetItem, which also brings their inline rows) and no row may clash with
        a stored one of the same key."""
        stage = self.get_run(run_id).info.lifecycle_stage
        if stage != LifecycleStage.ACTIVE:  # checked first, as the SQL store does
            raise MlflowException(
                f"The run {run_id} must be in the 'active' state. Current state is {stage}.",
                INVALID_PARAMETER_VALUE,
            )
        wanted = {m.model_id for m in metrics}
        metas = self.logged_models.get_metas(wanted)
        if missing := wanted - set(metas):
            raise MlflowException(
                f"Logged model(s) {sorted(missing)} not found: metrics cannot be linked to them.",
                BAD_REQUEST,
            )
        rows: dict[str, list] = {}
        for m in metrics:
            rows.setdefault(m.model_id, []).append(metric_row(m, run_id))
        try:
            return self.logged_model_metrics.pending(metas, rows)
        except LoggedModelMetricConflict as exc:
            raise MlflowException(
                f"Metric '{exc}' was already logged to a model with the same timestamp, step "
                f"and run (run ID '{run_id}') and another value or dataset.",
                BAD_REQUEST,
            ) from None

    def log_batch(self, run_id, metrics, params, tags):
        model_metrics = [m for m in metrics or [] if getattr(m, "model_id", None)]
        if not model_metrics:
            return super().log_batch(run_id, metrics, params, tags)
        # The run side validates again; validating first keeps the SQL store's error order.
        _validate_run_id(run_id)
        metrics, params, tags = _validate_batch_log_data(metrics, params, tags)
        _validate_batch_log_limits(metrics, params, tags)
        _validate_param_keys_unique(params)
        pending = self._model_metric_rows(run_id, model_metrics)
        super().log_batch(run_id, metrics, params, tags)
        self._write_model_metrics(pending)

    def log_metric(self, run_id, metric):
        if not getattr(metric, "model_id", None):
            return super().log_metric(run_id, metric)
        _validate_metric(metric.key, metric.value, metric.timestamp, metric.step)
        pending = self._model_metric_rows(run_id, [metric])
        super().log_metric(run_id, metric)
        self._write_model_metrics(pending)

    def _write_model_metrics(self, pending: dict[str, list]) -> None:
        for model_id, rows in pending.items():
            self.logged_model_metrics.write(model_id, rows)
