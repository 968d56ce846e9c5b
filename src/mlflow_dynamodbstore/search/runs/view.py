"""RunView: the flat, store-neutral shape of one run that search_runs filters and orders.

The planner builds views from run META items; the unit tests build them from MLflow ``Run``
entities. Keeping the evaluator and the ordering on this one shape is what lets both be
tested without a table and reused by every read strategy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import Run
from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

# MLflow's SQL store cannot hold +-inf and stores the largest finite double instead
# (SqlAlchemyStore.sanitize_metric_value); comparisons and ordering see that value.
SQL_FLOAT_MAX = 1.7976931348623157e308


def sql_metric_value(value: float) -> float:
    """A finite metric value as the SQL store compares and orders it (inf clamped)."""
    if math.isinf(value):
        return SQL_FLOAT_MAX if value > 0 else -SQL_FLOAT_MAX
    return value


@dataclass(frozen=True)
class DatasetRef:
    """One dataset input of a run: what ``datasets.name/digest/context`` filters see."""

    name: str
    digest: str
    context: str | None = None


@dataclass
class MetricValue:
    """A run's latest value of one metric; NaN is kept as ``is_nan`` (value 0), as in SQL."""

    value: float
    is_nan: bool = False

    @classmethod
    def of(cls, value: float) -> MetricValue:
        value = float(value)
        if math.isnan(value):
            return cls(0.0, True)
        return cls(sql_metric_value(value), False)


@dataclass
class RunView:
    run_id: str
    experiment_id: str
    run_name: str | None
    user_id: str | None
    status: str | None
    start_time: int | None
    end_time: int | None
    artifact_uri: str | None
    lifecycle_stage: str
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    # None until loaded: only dataset filters need them, and they cost extra reads.
    datasets: list[DatasetRef] | None = None
    # What the view was built from (a META item or a Run); the store turns it into a Run.
    source: Any = None

    def attribute(self, key: str) -> Any:
        return getattr(self, key)


def view_from_run(run: Run) -> RunView:
    """A view of an MLflow Run entity (used by unit tests and by anything holding Runs)."""
    info = run.info
    datasets = []
    for dataset_input in run.inputs.dataset_inputs if run.inputs else []:
        context = next(
            (t.value for t in dataset_input.tags if t.key == MLFLOW_DATASET_CONTEXT), None
        )
        datasets.append(
            DatasetRef(dataset_input.dataset.name, dataset_input.dataset.digest, context)
        )
    return RunView(
        run_id=info.run_id,
        experiment_id=str(info.experiment_id),
        run_name=info.run_name,
        user_id=info.user_id,
        status=info.status,
        start_time=info.start_time,
        end_time=info.end_time,
        artifact_uri=info.artifact_uri,
        lifecycle_stage=info.lifecycle_stage,
        params=dict(run.data.params),
        tags=dict(run.data.tags),
        metrics={k: MetricValue.of(v) for k, v in run.data.metrics.items()},
        datasets=datasets,
        source=run,
    )
