"""The run META item's contents: metric value encoding, spilled values and size budget.

Shared by the runs repository (writes) and search (reads): ``resolve_spilled`` and
``metric_entry_value`` are what a reader of META items needs.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.metric_rank_keys import sharded_rank_keys

# A param/tag value longer than this (UTF-8 bytes) lives in its own item.
SPILL_VALUE_BYTES = 1024
# Once META is estimated above this, anything new goes to its own item (the hard limit
# is 400 KB; the margin covers updates of entries that are already inline).
META_SOFT_LIMIT_BYTES = 300_000
SPILLED = "spilled"
# META attribute: False from create_run until the run's first dataset input or model
# input/output item (True after); a run without it predates the flag. Search results skip
# the partition read of runs whose flag is False.
IO_ITEMS_FLAG = "has_io_items"

# DynamoDB numbers hold 38 significant digits and magnitudes 1e-130 .. <1e126.
_MIN_NUMBER = 1e-130
_MAX_NUMBER = 1e126
# MLflow's SQL store compares and stores ±inf as ±max double (and NaN as 0).
_MAX_DOUBLE = 1.7976931348623157e308


def spill_marker() -> dict[str, bool]:
    """What a map holds in place of a spilled value: a map, so never equal to a string."""
    return {SPILLED: True}


def is_spilled(entry: Any) -> bool:
    return isinstance(entry, dict) and bool(entry.get(SPILLED))


def needs_spill(value: str | None) -> bool:
    return isinstance(value, str) and len(value.encode("utf-8")) > SPILL_VALUE_BYTES


# ---- metric values -------------------------------------------------------------------
def encode_metric_value(value: float) -> Decimal | str:
    """A Number when DynamoDB can hold it exactly, else Python's repr ("nan", "inf", "1e-300").
    ``float()`` decodes both."""
    value = float(value)
    if value == 0.0 or (math.isfinite(value) and _MIN_NUMBER <= abs(value) < _MAX_NUMBER):
        return Decimal(repr(value))
    return repr(value)


def decode_metric_value(stored: Decimal | str | float | int) -> float:
    return float(stored)


def comparable_metric_value(value: float) -> float:
    """The value MLflow's SQL store compares (and orders history by): NaN as 0, ±inf as
    ±max double."""
    if math.isnan(value):
        return 0.0
    if math.isinf(value):
        return _MAX_DOUBLE if value > 0 else -_MAX_DOUBLE
    return value


def metric_entry(value: float, timestamp: int, step: int) -> dict[str, Any]:
    """The ``metrics`` map entry (and LATEST item body) for one latest value."""
    return {
        "value": encode_metric_value(value),
        "timestamp": int(timestamp),
        "step": int(step),
        "is_nan": math.isnan(value),
    }


def latest_item(
    run_id: str, experiment_id: str, key: str, value: float, timestamp: int, step: int
) -> dict[str, Any]:
    """The LATEST item of one (run, metric key): its latest value and its rank entry's keys
    (in the run's shard, schema/metric_rank_keys.py)."""
    return {
        **keys.metric_latest_key(run_id, key),
        **sharded_rank_keys(experiment_id, key, value, run_id),
        "run_id": run_id,
        "experiment_id": experiment_id,
        "key": key,
        **metric_entry(value, timestamp, step),
    }


def metric_entry_value(entry: dict[str, Any]) -> float:
    return math.nan if entry.get("is_nan") else decode_metric_value(entry["value"])


def metric_sort_key(value: float, timestamp: int, step: int) -> tuple[int, int, float]:
    """MLflow's "latest value" order: greatest (step, timestamp, value) wins."""
    return (int(step), int(timestamp), comparable_metric_value(value))


# ---- size budget ---------------------------------------------------------------------
def estimate_size(value: Any) -> int:
    """A conservative estimate of DynamoDB's item-size accounting for one attribute value."""
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray):
        return len(value)
    if isinstance(value, bool) or value is None:
        return 1
    if isinstance(value, int | float | Decimal):
        return 21
    if isinstance(value, dict):
        return 3 + sum(len(str(k).encode("utf-8")) + 1 + estimate_size(v) for k, v in value.items())
    if isinstance(value, list | set | tuple):
        return 3 + sum(1 + estimate_size(v) for v in value)
    return len(str(value))


def estimate_item_size(item: dict[str, Any]) -> int:
    return sum(len(k.encode("utf-8")) + estimate_size(v) for k, v in item.items())


# ---- spilled values ------------------------------------------------------------------
def spilled_keys(meta: dict[str, Any]) -> list[dict[str, str]]:
    """Keys of the items holding ``meta``'s spilled params, tags and metrics."""
    run_id = meta["run_id"]
    found = [keys.param_key(run_id, k) for k, v in meta.get("params", {}).items() if is_spilled(v)]
    found += [keys.run_tag_key(run_id, k) for k, v in meta.get("tags", {}).items() if is_spilled(v)]
    found += [
        keys.metric_latest_key(run_id, k)
        for k, v in meta.get("metrics", {}).items()
        if is_spilled(v)
    ]
    return found


def apply_spilled(meta: dict[str, Any], spilled_items: list[dict[str, Any]]) -> dict[str, Any]:
    """A copy of ``meta`` whose maps hold the values of the given spilled items (items of
    other runs are ignored)."""
    resolved = {
        **meta,
        "params": dict(meta.get("params", {})),
        "tags": dict(meta.get("tags", {})),
        "metrics": dict(meta.get("metrics", {})),
    }
    run_pk = keys.run_pk(meta["run_id"])
    for item in spilled_items:
        if item["PK"] == run_pk and item["SK"].startswith(keys.PARAM_PREFIX):
            resolved["params"][item["key"]] = item["value"]
        elif item["PK"] == run_pk and item["SK"].startswith(keys.RUN_TAG_PREFIX):
            resolved["tags"][item["key"]] = item["value"]
        elif (
            item["SK"] == keys.METRIC_LATEST_SK
            and item.get("run_id") == meta["run_id"]
            and item["PK"] == keys.metric_history_pk(meta["run_id"], item["key"])
        ):
            resolved["metrics"][item["key"]] = {
                k: item[k] for k in ("value", "timestamp", "step", "is_nan")
            }
    return resolved


def resolve_spilled(
    gateway: TableGateway, metas: list[dict[str, Any]], *, consistent: bool = False
) -> list[dict[str, Any]]:
    """META items with every spilled value filled in: one BatchGetItem per 100 spilled
    values across all of them (none when nothing is spilled)."""
    wanted = [key for meta in metas for key in spilled_keys(meta)]
    if not wanted:
        return metas
    found = gateway.batch_get(wanted, consistent=consistent)
    by_run: dict[str, list[dict[str, Any]]] = {}
    for item in found:
        run_id = item["run_id"]  # every spilled item names its run
        by_run.setdefault(run_id, []).append(item)
    return [apply_spilled(meta, by_run.get(meta["run_id"], [])) for meta in metas]
