"""A logged model's metric rows: metrics logged to a run with a ``model_id`` are also the
model's metrics (MLflow's ``logged_model_metrics`` table).

A row is unique per (name, timestamp, step, run), as the SQL primary key, and identified by
its sort key (``keys.logged_model_metric_key``). Rows live **inline on the model's META
item** (list ``metrics``, appended with ``list_append``), so reading a model or a page of
search results needs no request per model. Once the inline rows reach ~100 KB, META is
marked ``metrics_spilled`` and later rows become items of the model's partition (readers
then also Query them). Values are stored as the SQL store sanitises them (NaN -> 0, ±inf ->
±max double), as strings because DynamoDB numbers cannot hold ±1.8e308.
"""

from __future__ import annotations

import math
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import Metric

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.schema import keys

Item = dict[str, Any]
_MAX_DOUBLE = 1.7976931348623157e308
# Attributes that make two rows with the same key "the same metric" for the SQL store.
_CONTENT = ("value", "dataset_name", "dataset_digest")
_ROW_FIELDS = ("SK", "key", "value", "timestamp", "step", "run_id", "dataset_name")
INLINE_METRICS_BYTES = 100_000


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


def metric_row(metric: Metric, run_id: str) -> Item:
    """The row of a metric logged to ``run_id`` (its model is ``metric.model_id``)."""
    key = keys.logged_model_metric_key(
        metric.model_id, metric.key, int(metric.timestamp), int(metric.step), run_id
    )
    return {
        "SK": key["SK"],
        "key": metric.key,
        "value": repr(sanitize(float(metric.value))),
        "timestamp": int(metric.timestamp),
        "step": int(metric.step),
        "run_id": run_id,
        "dataset_name": metric.dataset_name,
        "dataset_digest": metric.dataset_digest,
    }


def rows_of(meta: Item, spilled: list[Item] | None = None) -> list[Item]:
    """A model's rows: inline ones, then spilled items; one per sort key (the first written
    wins, as a racing duplicate can only repeat it), in sort key order."""
    unique: dict[str, Item] = {}
    for row in [*(meta.get("metrics") or []), *(spilled or [])]:
        unique.setdefault(row["SK"], row)
    return [unique[sk] for sk in sorted(unique)]


def row_value(row: Item) -> float:
    return float(row["value"])


def to_metric(row: Item, model_id: str) -> Metric:
    return Metric(
        key=row["key"],
        value=row_value(row),
        timestamp=int(row["timestamp"]),
        step=int(row["step"]),
        run_id=row["run_id"],
        dataset_name=row.get("dataset_name"),
        dataset_digest=row.get("dataset_digest"),
        model_id=model_id,
    )


def _same(a: Item, b: Item) -> bool:
    return all(a.get(name) == b.get(name) for name in _CONTENT)


def _row_bytes(row: Item) -> int:
    """An upper estimate of a row's size inside META (names + values + map overhead)."""
    return sum(len(name) + len(str(row.get(name))) + 4 for name in (*_ROW_FIELDS, "dataset_digest"))


class LoggedModelMetricRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway

    def pending(self, metas: dict[str, Item], rows: dict[str, list[Item]]) -> dict[str, list]:
        """Per model, the rows still to write: identical rows (in the batch or stored)
        collapse into one, a differing row with the same key raises
        LoggedModelMetricConflict. Inline rows come with ``metas``; spilled models cost
        ⌈rows / 100⌉ consistent BatchGetItem."""
        result: dict[str, list[Item]] = {}
        for model_id, model_rows in rows.items():
            unique: dict[str, Item] = {}
            for row in model_rows:
                if row["SK"] in unique and not _same(unique[row["SK"]], row):
                    raise LoggedModelMetricConflict(row["key"])
                unique.setdefault(row["SK"], row)
            meta = metas[model_id]
            stored = {r["SK"]: r for r in meta.get("metrics") or []}
            if meta.get("metrics_spilled"):
                pk = keys.logged_model_pk(model_id)
                found = self.gateway.batch_get(
                    ({"PK": pk, "SK": sk} for sk in unique), consistent=True
                )
                stored.update({item["SK"]: item for item in found})
            for sk, row in list(unique.items()):
                if sk in stored:
                    if not _same(stored[sk], row):
                        raise LoggedModelMetricConflict(row["key"])
                    del unique[sk]
            result[model_id] = list(unique.values())
        return result

    def write(self, model_id: str, rows: list[Item]) -> None:
        """Append rows to META's inline list (1 UpdateItem, conditioned on staying under the
        inline budget); past it, mark META spilled (1 UpdateItem) and write the rows as items
        (⌈rows / 25⌉ BatchWriteItem)."""
        if not rows:
            return
        size = sum(_row_bytes(r) for r in rows)
        meta_key = keys.logged_model_key(model_id)
        try:
            self.gateway.update_item(
                meta_key,
                "SET #u_m = list_append(if_not_exists(#u_m, :u_empty), :u_rows) ADD #u_b :u_size",
                names={"#u_m": "metrics", "#u_b": "metrics_bytes"},
                values={":u_empty": [], ":u_rows": rows, ":u_size": size},
                condition=Attr("PK").exists()
                & Attr("metrics_spilled").not_exists()
                & (
                    Attr("metrics_bytes").not_exists()
                    | Attr("metrics_bytes").lte(INLINE_METRICS_BYTES - size)
                ),
            )
            return
        except ConditionFailed:
            pass
        # The flag first: a reader that sees it queries the items, a crash before the items
        # are written loses only this call's rows (its caller got an error).
        try:
            self.gateway.update_item(
                meta_key,
                "SET #u_s = :u_true",
                names={"#u_s": "metrics_spilled"},
                values={":u_true": True},
                condition=Attr("PK").exists(),
            )
        except ConditionFailed:
            return  # the model is gone (never soft-deleted ones): nothing to link to
        pk = keys.logged_model_pk(model_id)
        self.gateway.batch_write({**r, "PK": pk, "model_id": model_id} for r in rows)

    def spilled(self, model_id: str) -> list[Item]:
        """Rows written as items (only spilled models have any): one Query per 1 MB."""
        return list(
            self.gateway.query(
                Key("PK").eq(keys.logged_model_pk(model_id))
                & Key("SK").begins_with(keys.LOGGED_MODEL_METRIC_PREFIX),
            )
        )

    def rows(self, meta: Item) -> list[Item]:
        """Every row of a model: none read beyond META unless it has spilled."""
        return rows_of(meta, self.spilled(meta["model_id"]) if meta.get("metrics_spilled") else [])
