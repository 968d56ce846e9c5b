"""MLflow entities from run items (META with spilled values resolved)."""

from __future__ import annotations

from typing import Any

from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunInputs, RunOutputs, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.repositories.runs.inputs import to_run_inputs
from mlflow_dynamodbstore.repositories.runs.items import is_spilled, metric_entry_value
from mlflow_dynamodbstore.repositories.runs.repository import effective_run_lifecycle

Item = dict[str, Any]


def to_run_info(meta: Item, experiment: Item | None) -> RunInfo:
    stage, _ = effective_run_lifecycle(meta, experiment)
    tags = meta.get("tags", {})
    run_name = meta.get("run_name")
    if not run_name and isinstance(tags.get(MLFLOW_RUN_NAME), str):
        run_name = tags[MLFLOW_RUN_NAME]  # as SqlRun.to_mlflow_entity falls back to the tag
    return RunInfo(
        run_id=meta["run_id"],
        run_name=run_name,
        experiment_id=str(meta["experiment_id"]),
        user_id=meta.get("user_id"),
        status=meta["status"],
        start_time=_int(meta.get("start_time")),
        end_time=_int(meta.get("end_time")),
        lifecycle_stage=stage,
        artifact_uri=meta.get("artifact_uri"),
    )


def to_run_data(meta: Item) -> RunData:
    """Params, tags and latest metrics of a META item whose spilled values are resolved
    (entries still spilled, which resolution could not find, are left out)."""
    metrics = [
        Metric(
            key=key,
            value=metric_entry_value(entry),
            timestamp=int(entry["timestamp"]),
            step=int(entry["step"]),
        )
        for key, entry in meta.get("metrics", {}).items()
        if not is_spilled(entry)
    ]
    params = [Param(k, v) for k, v in meta.get("params", {}).items() if not is_spilled(v)]
    tags = [RunTag(k, v) for k, v in meta.get("tags", {}).items() if not is_spilled(v)]
    return RunData(metrics=metrics, params=params, tags=tags)


def to_run(meta: Item, experiment: Item | None, others: list[Item] | None = None) -> Run:
    datasets, model_inputs, model_outputs = to_run_inputs(others or [])
    return Run(
        to_run_info(meta, experiment),
        to_run_data(meta),
        RunInputs(dataset_inputs=datasets, model_inputs=model_inputs),
        RunOutputs(model_outputs),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
