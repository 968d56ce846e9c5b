"""A run's LIVE item: the latest metric values a training step logs without rewriting META.

META is projected into GSI1 (an experiment's run listing, ``EXP#<exp>#RUNS``), so every META
write is also a write to that one index partition; a sweep of many runs stepping at once
would make it hot. A step of keys the run already has therefore updates the LIVE item
(``RUN#<run>``/``LIVE``, no index keys) and the keys' LATEST items, and leaves META alone.

The run's latest value of a key is the greater (MLflow's order: step, timestamp, value) of
META's entry and LIVE's entry: both only ever move forward, and every write of either also
writes the key's LATEST item in the same transaction, guarded so that LATEST holds the
greatest. ``LIVE_FLAG`` on META (set by the META write that creates LIVE) tells readers
that a LIVE item may hold newer entries; a META without it has none. Readers merge with
``merge_live``: get_run (LIVE is in the run partition its Query reads), search pages (one
BatchGetItem of the flagged runs' LIVE items) and the read-plan-write path.
"""

from __future__ import annotations

import copy
from typing import Any

from mlflow_dynamodbstore.repositories.runs.items import (
    is_spilled,
    metric_entry_value,
    metric_sort_key,
)
from mlflow_dynamodbstore.schema.keys import META, run_key
from mlflow_dynamodbstore.schema.metric_rank_keys import LIVE_SK, live_key

Item = dict[str, Any]
LIVE_FLAG = "live_metrics"
LIVE_METRICS = "metrics"
LIVE_VERSION = "version"

__all__ = ["LIVE_FLAG", "LIVE_METRICS", "LIVE_SK", "LIVE_VERSION", "live_key"]


def has_live(meta: Item | None) -> bool:
    return bool(meta and meta.get(LIVE_FLAG))


def is_live_item(item: Item) -> bool:
    return item.get("SK") == LIVE_SK


def _entry_order(entry: Item) -> tuple:
    return metric_sort_key(metric_entry_value(entry), entry["timestamp"], entry["step"])


def merge_live(meta: Item, live: Item | None) -> Item:
    """META whose metric entries are the newer of its own and LIVE's (a copy; META itself
    when there is nothing to merge). A spilled entry stays spilled: its LATEST item, which
    resolving it reads, is the greatest value anyway."""
    entries = (live or {}).get(LIVE_METRICS) or {}
    if not entries:
        return meta
    metrics = dict(meta.get("metrics") or {})
    changed = False
    for key, entry in entries.items():
        current = metrics.get(key)
        if is_spilled(current):
            continue
        if current is None or _entry_order(entry) > _entry_order(current):
            metrics[key] = entry
            changed = True
    if not changed:
        return meta
    merged = copy.copy(meta)
    merged["metrics"] = metrics
    return merged


def meta_and_live(gateway: Any, run_id: str) -> tuple[Item | None, Item | None]:
    """The run's META and LIVE items (either None when missing) in one consistent
    BatchGetItem."""
    found = gateway.batch_get([run_key(run_id), live_key(run_id)], consistent=True)
    meta = next((i for i in found if i["SK"] == META), None)
    return meta, next((i for i in found if is_live_item(i)), None)


def live_metric_keys(gateway: Any, meta: Item) -> set[str]:
    """The metric keys of a run's LIVE item (keys a run logged only through training steps
    are not in META): one GetItem, none for a run without LIVE. Deleting a run's histories
    needs META's keys and these."""
    if not has_live(meta):
        return set()
    live = gateway.get_item(live_key(meta["run_id"]))
    return set((live or {}).get(LIVE_METRICS) or {})


def live_version(live: Item | None) -> int | None:
    value = (live or {}).get(LIVE_VERSION)
    return None if value is None else int(value)
