"""A logged model's metric rows: metrics logged to a run with a ``model_id`` are also the
model's metrics (MLflow's ``logged_model_metrics`` table).

One item per (model, name, timestamp, step, run) in the model's partition, as the SQL
primary key. Values are stored as the SQL store sanitises them (NaN -> 0, ±inf -> ±max
double) and written as strings, because DynamoDB numbers cannot hold ±1.8e308.
"""

from __future__ import annotations

import math
from typing import Any

from boto3.dynamodb.conditions import Key
from mlflow.entities import Metric

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]
_MAX_DOUBLE = 1.7976931348623157e308
# Attributes that make two rows with the same key "the same metric" for the SQL store.
_CONTENT = ("value", "dataset_name", "dataset_digest")


class LoggedModelMetricConflict(Exception):
    """A row with the same (model, name, timestamp, step, run) but other content exists or
    appears twice in one batch (the SQL store's primary key violation)."""


def sanitize(value: float) -> float:
    """As SqlAlchemyStore.sanitize_metric_value: NaN -> 0, ±inf -> ±max double."""
    if math.isnan(value):
        return 0.0
    if math.isinf(value):
        return _MAX_DOUBLE if value > 0 else -_MAX_DOUBLE
    return float(value)


def metric_row(metric: Metric, run_id: str, experiment_id: str) -> Item:
    return {
        **keys.logged_model_metric_key(
            metric.model_id, metric.key, int(metric.timestamp), int(metric.step), run_id
        ),
        "model_id": metric.model_id,
        "key": metric.key,
        "value": repr(sanitize(float(metric.value))),
        "timestamp": int(metric.timestamp),
        "step": int(metric.step),
        "run_id": run_id,
        "experiment_id": experiment_id,
        "dataset_name": metric.dataset_name,
        "dataset_digest": metric.dataset_digest,
    }


def to_metric(row: Item) -> Metric:
    return Metric(
        key=row["key"],
        value=float(row["value"]),
        timestamp=int(row["timestamp"]),
        step=int(row["step"]),
        run_id=row["run_id"],
        dataset_name=row.get("dataset_name"),
        dataset_digest=row.get("dataset_digest"),
        model_id=row["model_id"],
    )


def row_value(row: Item) -> float:
    return float(row["value"])


class LoggedModelMetricRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def check(self, rows: list[Item]) -> list[Item]:
        """The rows still to write: identical rows (in the batch or the table) collapse into
        one, a differing row with the same key raises LoggedModelMetricConflict. Costs
        ⌈n / 100⌉ consistent BatchGetItem."""
        unique: dict[tuple, Item] = {}
        for row in rows:
            key = (row["PK"], row["SK"])
            if key in unique and not _same(unique[key], row):
                raise LoggedModelMetricConflict(row["key"])
            unique.setdefault(key, row)
        existing = self.gateway.batch_get(
            ({"PK": pk, "SK": sk} for pk, sk in unique), consistent=True
        )
        for item in existing:
            key = (item["PK"], item["SK"])
            if not _same(item, unique[key]):
                raise LoggedModelMetricConflict(item["key"])
            del unique[key]
        return list(unique.values())

    def write(self, rows: list[Item]) -> None:
        """⌈n / 25⌉ BatchWriteItem (rows are idempotent: same key, same content)."""
        self.gateway.batch_write(rows)

    def of_model(self, model_id: str) -> list[Item]:
        """Every metric row of one model: one Query (per 1 MB) of its partition."""
        return list(
            self.gateway.query(
                Key("PK").eq(keys.logged_model_pk(model_id))
                & Key("SK").begins_with(keys.LOGGED_MODEL_METRIC_PREFIX),
            )
        )


def _same(a: Item, b: Item) -> bool:
    return all(a.get(name) == b.get(name) for name in _CONTENT)
