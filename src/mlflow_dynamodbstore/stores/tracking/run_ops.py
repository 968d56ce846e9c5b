"""Run operations of the tracking store facade: create/get/update/delete/restore runs, params,
tags, batches, inputs and outputs. Metrics are in ``run_metric_ops``.

Behaviour, messages and error codes follow MLflow's SqlAlchemyStore; where that store
answers bad input with an internal error, this one answers INVALID_PARAMETER_VALUE.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator

from mlflow.entities import LifecycleStage, Run, RunInputs, RunStatus, RunTag
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.utils.mlflow_tags import MLFLOW_LOGGED_MODELS, MLFLOW_RUN_NAME
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.uri import append_to_uri_path
from mlflow.utils.validation import MAX_ENTITY_KEY_LENGTH, MAX_TAG_VAL_LENGTH

from mlflow_dynamodbstore.compat.helpers import (
    _DatasetSummary,
    _generate_random_name,
    _get_run_name_from_tags,
)
from mlflow_dynamodbstore.compat.validation import (
    _parse_experiment_ids,
    _validate_batch_log_data,
    _validate_batch_log_limits,
    _validate_dataset_inputs,
    _validate_length_limit,
    _validate_param,
    _validate_param_keys_unique,
    _validate_run_id,
    _validate_tag,
)
from mlflow_dynamodbstore.lifecycle.deletions import run_marker
from mlflow_dynamodbstore.lifecycle.policies import retention_of
from mlflow_dynamodbstore.lifecycle.ttl import soft_delete_ttl
from mlflow_dynamodbstore.repositories.runs.changes import (
    ParamConflict,
    RunChange,
    RunTooLarge,
    TagMissing,
    check_params,
    stored_run_name,
)
from mlflow_dynamodbstore.repositories.runs.entities import to_run, to_run_info
from mlflow_dynamodbstore.repositories.runs.inputs import RunInputsRepository
from mlflow_dynamodbstore.repositories.runs.repository import (
    RunContention,
    RunMissing,
    RunNotActive,
    RunRepository,
)
from mlflow_dynamodbstore.repositories.runs.stepping import STEP_MODE
from mlflow_dynamodbstore.stores.tracking.experiment_ops import experiment_not_active
from mlflow_dynamodbstore.stores.tracking.run_metric_ops import (
    RunMetricOps,
    to_points,
)

ARTIFACTS_FOLDER_NAME = "artifacts"
MAX_DATASET_SUMMARIES_RESULTS = 1000  # as SqlAlchemyStore._search_datasets


class RunOps(RunMetricOps):
    """Mixed into DynamoDBTrackingStore, which provides ``runs``, ``metric_history``,
    ``run_inputs``, ``get_experiment`` and ``_get_active_workspace``."""

    runs: RunRepository
    run_inputs: RunInputsRepository

    # ---- helpers ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _run_errors(self, run_id) -> Iterator[None]:
        """Domain errors as the SQL store's MlflowExceptions."""
        try:
            yield
        except RunMissing:
            raise MlflowException(
                f"Run with id={run_id} not found", RESOURCE_DOES_NOT_EXIST
            ) from None
        except RunNotActive as exc:
            raise MlflowException(
                f"The run {run_id} must be in the 'active' state. "
                f"Current state is {exc.lifecycle_stage}.",
                INVALID_PARAMETER_VALUE,
            ) from None
        except RunContention:
            raise MlflowException(
                f"Run {run_id} is being changed by too many writers at once; try again.",
                TEMPORARILY_UNAVAILABLE,
            ) from None
        except RunTooLarge:
            raise MlflowException(
                f"Run {run_id} cannot hold more params, tags and metrics "
                "(DynamoDB's 400 KB item limit).",
                INVALID_PARAMETER_VALUE,
            ) from None

    def _commit_run(self, run_id, *, read=None, require_active=True, **change):
        return self.runs.commit(
            run_id,
            RunChange(**change),
            require_active=require_active,
            read=read,
        )

    # ---- runs ------------------------------------------------------------------------
    def create_run(self, experiment_id, user_id, start_time, tags, run_name):
        experiment = self.get_experiment(experiment_id)
        if experiment.lifecycle_stage != LifecycleStage.ACTIVE:
            raise experiment_not_active(experiment.experiment_id, experiment.lifecycle_stage)
        for name, value in (("user_id", user_id), ("start_time", start_time)):
            if value is None:  # RunInfo refuses None; the SQL store fails with a 500 here
                raise MlflowException(f"{name} cannot be None", INVALID_PARAMETER_VALUE)
        tags = [_create_run_tag(t) for t in tags or []]
        run_name_tag = _get_run_name_from_tags(tags)
        if run_name and run_name_tag and (run_name != run_name_tag):
            raise MlflowException(
                "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
                f"different values (run_name='{run_name}', mlflow.runName='{run_name_tag}').",
                INVALID_PARAMETER_VALUE,
            )
        run_name = run_name or run_name_tag or _generate_random_name()
        if not run_name_tag:
            tags.append(RunTag(key=MLFLOW_RUN_NAME, value=run_name))
        run_id = uuid.uuid4().hex
        meta = self.runs.create(
            {
                "run_id": run_id,
                "experiment_id": str(experiment.experiment_id),
                "workspace": self._get_active_workspace(),
                "run_name": run_name,
                "user_id": user_id,
                "status": RunStatus.to_string(RunStatus.RUNNING),
                "start_time": int(start_time),
                "lifecycle_stage": LifecycleStage.ACTIVE,
                "artifact_uri": append_to_uri_path(
                    experiment.artifact_location, run_id, ARTIFACTS_FOLDER_NAME
                ),
            },
            {t.key: t.value for t in tags},
        )
        run = to_run(meta, None)
        return Run(run.info, run.data, RunInputs(dataset_inputs=[]))  # as the SQL store

    def get_run(self, run_id):
        with self._run_errors(run_id):
            meta, others = self.runs.get_partition(run_id)
        return to_run(meta, self.runs.experiment_of(meta), others)

    def update_run_info(self, run_id, run_status, end_time, run_name):
        info = {}
        tags = {}
        if run_status is not None:
            info["status"] = RunStatus.to_string(run_status)
        if end_time is not None:
            info["end_time"] = int(end_time)
        if run_name:
            info["run_name"] = run_name
            tags[MLFLOW_RUN_NAME] = run_name
        # A run that ends stops stepping through LIVE: the META write clears STEP_MODE (no
        # step commits after it), then its keys are settled (repositories/runs/settle.py).
        ending = run_status is not None and RunStatus.is_terminated(run_status)
        with self._run_errors(run_id):
            read = self.runs.get_active_meta(run_id)
            stepping = ending and bool(read[0].get(STEP_MODE))
            if stepping:
                info[STEP_MODE] = None
            meta = self._commit_run(run_id, read=read, info=info, tags=tags)
            if stepping:
                self.runs.settle(run_id)
        return to_run_info(meta, read[1])

    def delete_run(self, run_id):
        """META gets ``ttl`` (the soft-deleted retention) and the deletion index a marker, in
        one TransactWriteItems after the META read: O(1) whatever the run holds."""
        now = get_current_time_millis()
        with self._run_errors(run_id):
            # keys logged only by training steps are in LIVE: the marker names their
            # histories too (cleanup deletes them even once TTL took META)
            meta, live = self.runs.get_meta_with_live(run_id)
            metric_keys = {*(meta.get("metrics") or {}), *((live or {}).get("metrics") or {})}
            marker = run_marker(
                run_id,
                meta.get("workspace") or self._get_active_workspace(),
                now,
                sorted(metric_keys),
                experiment_id=str(meta["experiment_id"]),
                run_name=stored_run_name(meta, lambda want: self.gateway.batch_get(want)),
            )
            self._commit_run(
                run_id,
                read=(meta, None),
                require_active=False,
                info={
                    "lifecycle_stage": LifecycleStage.DELETED,
                    "deleted_time": now,
                    "ttl": soft_delete_ttl(retention_of(self._conn), now),
                },
                extra_puts=[marker],
            )

    def restore_run(self, run_id):
        """Clears META's ``ttl``; the history keeps its own (metric-history retention)."""
        with self._run_errors(run_id):
            self._commit_run(
                run_id,
                require_active=False,
                info={
                    "lifecycle_stage": LifecycleStage.ACTIVE,
                    "deleted_time": None,
                    "ttl": None,
                    # lets a run restored after its experiment's deletion show as active
                    "restored_time": get_current_time_millis(),
                },
            )

    # ---- tags and params -------------------------------------------------------------
    def set_tag(self, run_id, tag):
        tag = _validate_tag(tag.key, tag.value)
        self._set_tags(run_id, [tag])

    def _set_tags(self, run_id, tags):
        info, values = _tag_change(tags)
        with self._run_errors(run_id):
            read = self.runs.get_active_meta(run_id)
            if values:
                self._commit_run(run_id, read=read, info=info, tags=values)

    def delete_tag(self, run_id, key):
        try:
            with self._run_errors(run_id):
                self._commit_run(run_id, delete_tags=[key])
        except TagMissing:
            raise MlflowException(
                f"No tag with name: {key} in run with id {run_id}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None

    def log_param(self, run_id, param):
        param = _validate_param(param.key, param.value)
        try:
            with self._run_errors(run_id):
                if param.value is None:
                    read = self.runs.get_active_meta(run_id)
                    check_params(read[0], {param.key: None}, self.runs.fetch)
                    _refuse_params_without_value([param])
                self._commit_run(run_id, params={param.key: param.value})
        except ParamConflict as exc:
            old = exc.conflicts[0]["old_value"]
            raise MlflowException(
                f"Changing param values is not allowed. Param with key='{param.key}' was "
                f"already logged with value='{old}' for run ID='{run_id}'. Attempted logging "
                f"new value '{param.value}'.",
                INVALID_PARAMETER_VALUE,
            ) from None

    def log_batch(self, run_id, metrics, params, tags):
        _validate_run_id(run_id)
        metrics, params, tags = _validate_batch_log_data(metrics, params, tags)
        _validate_batch_log_limits(metrics, params, tags)
        _validate_param_keys_unique(params)
        points = to_points(metrics)
        param_values = {p.key: p.value for p in params}
        info, tag_values = _tag_change(tags)
        only_metrics = points and not (param_values or info or tag_values)
        if only_metrics and self._log_newer_metrics(run_id, points):
            return
        try:
            with self._run_errors(run_id):
                read = self.runs.get_active_meta(run_id)
                # The SQL store logs params first and stops on a conflict before metrics.
                check_params(read[0], param_values, self.runs.fetch)
                _refuse_params_without_value(params)
                self._commit_run(
                    run_id,
                    read=read,
                    info=info,
                    params=param_values,
                    tags=tag_values,
                    **self._history_change(run_id, points),
                )
        except ParamConflict as exc:
            raise MlflowException(
                "Changing param values is not allowed. Params were already"
                f" logged='{exc.conflicts}' for run ID='{run_id}'.",
                INVALID_PARAMETER_VALUE,
            ) from None

    def record_logged_model(self, run_id, mlflow_model):
        from mlflow.models import Model

        if not isinstance(mlflow_model, Model):
            raise TypeError(
                f"Argument 'mlflow_model' should be mlflow.models.Model, got '{type(mlflow_model)}'"
            )
        model_dict = mlflow_model.get_tags_dict()
        with self._run_errors(run_id):
            meta, _ = self.runs.get_partition(run_id)
            self.runs.check_active(meta, self.runs.experiment_of(meta))
            previous = meta["tags"].get(MLFLOW_LOGGED_MODELS)
            models = [*json.loads(previous), model_dict] if previous else [model_dict]
            tag = _validate_tag(MLFLOW_LOGGED_MODELS, json.dumps(models))
            self._commit_run(run_id, tags={tag.key: tag.value})

    # ---- garbage collection (``mlflow gc``) ------------------------------------------
    def _get_deleted_runs(self, older_than=0):
        """Ids of deleted runs (deleted at least ``older_than`` ms ago) of the workspace."""
        cutoff = get_current_time_millis() - older_than
        return self.runs.deleted_run_ids(self._get_active_workspace(), cutoff)

    def _hard_delete_run(self, run_id):
        """Permanently delete a run: its metric histories first, then its partition (so an
        interrupted delete can be run again)."""
        with self._run_errors(run_id):
            metric_keys = self.runs.metric_keys(run_id)
        for key in metric_keys:
            self.metric_history.delete_all(run_id, key)
        self.runs.delete_partition(run_id)

    # ---- inputs and outputs ----------------------------------------------------------
    def log_inputs(self, run_id, datasets=None, models=None):
        _validate_run_id(run_id)
        if datasets is not None:
            if not isinstance(datasets, list):
                raise TypeError(f"Argument 'datasets' should be a list, got '{type(datasets)}'")
            _validate_dataset_inputs(datasets)
        for dataset_input in datasets or []:
            if dataset_input.dataset is None:
                raise MlflowException(
                    "Dataset input must have a dataset associated with it.",
                    INVALID_PARAMETER_VALUE,
                )
        with self._run_errors(run_id):
            meta, _ = self.runs.get_active_meta(run_id)
        if datasets or models:
            self.runs.mark_io_items(meta)
        if datasets:
            self.run_inputs.log_datasets(run_id, str(meta["experiment_id"]), datasets)
        if models:
            self.run_inputs.log_model_inputs(run_id, models)

    def _search_datasets(self, experiment_ids):
        """Dataset summaries of the experiments' run inputs (what the UI's dataset list
        shows): 1 BatchGetItem (the experiments' workspace) + 1 Query per experiment."""
        summaries = self.run_inputs.dataset_summaries(
            [str(i) for i in _parse_experiment_ids(experiment_ids)],
            MAX_DATASET_SUMMARIES_RESULTS,
        )
        return [_dataset_summary(item) for item in summaries]

    def log_outputs(self, run_id, models):
        with self._run_errors(run_id):
            meta, _ = self.runs.get_active_meta(run_id)
        if models:
            self.runs.mark_io_items(meta)
        self.run_inputs.log_model_outputs(run_id, models)


def _dataset_summary(item) -> _DatasetSummary:
    return _DatasetSummary(
        experiment_id=str(item["experiment_id"]),
        name=item["name"],
        digest=item["digest"],
        context=item.get("context"),
    )


def _create_run_tag(tag: RunTag) -> RunTag:
    """SqlAlchemyStore.create_run stores tags without MLflow's name rules; keep that, but a
    key must be a non-empty string and a value must fit the run's items."""
    if not isinstance(tag.key, str) or not tag.key:
        raise MlflowException(
            f"Invalid tag key {tag.key!r}: it must be a non-empty string.", INVALID_PARAMETER_VALUE
        )
    return RunTag(
        _validate_length_limit("Tag key", MAX_ENTITY_KEY_LENGTH, tag.key),
        _validate_length_limit("Tag value", MAX_TAG_VAL_LENGTH, tag.value, truncate=True),
    )


def _tag_change(tags) -> tuple[dict, dict]:
    """(info, tag values) for setting ``tags`` in order (the last value of a key wins).
    ``mlflow.runName`` also renames the run, and an empty one is ignored, as the SQL store's
    set_tag -> update_run_info does."""
    info, values = {}, {}
    for tag in tags:
        if tag.key == MLFLOW_RUN_NAME:
            if not tag.value:
                continue
            info["run_name"] = tag.value
        values[tag.key] = tag.value
    return info, values


def _refuse_params_without_value(params) -> None:
    """A param needs a value: BAD_REQUEST, as the SQL store's NOT NULL column answers, after
    the same checks it makes first (the run active, a logged param keeps its value)."""
    for param in params:
        if param.value is None:
            raise MlflowException(
                f"Param '{param.key}' has no value: a param value cannot be None.", BAD_REQUEST
            )
