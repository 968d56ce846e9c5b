"""Planning one change of a run: a new META item plus the extra items it moves.

Pure functions over an item that was read; the runs repository writes the plan
conditioned on the version it read (see ``RunRepository.commit``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.postings import PostingChange
from mlflow_dynamodbstore.repositories.runs import value_postings
from mlflow_dynamodbstore.repositories.runs.items import (
    META_SOFT_LIMIT_BYTES,
    estimate_item_size,
    estimate_size,
    is_spilled,
    latest_item,
    metric_entry,
    metric_entry_value,
    metric_sort_key,
    needs_spill,
    spill_marker,
)
from mlflow_dynamodbstore.schema import keys, tag_index_keys

Item = dict[str, Any]
Fetch = Callable[[list[Item]], list[Item]]
# Does this tag key of the run's experiment get a tag index entry? (settings' globs)
Indexed = Callable[[str], bool]
# (value, timestamp, step)
MetricPoint = tuple[float, int, int]

# DynamoDB's hard item limit, less a margin for the estimate's error.
META_HARD_LIMIT_BYTES = 390_000


class ParamConflict(Exception):
    """Params already logged with other values: [{"key", "old_value", "new_value"}]."""

    def __init__(self, conflicts: list[dict[str, str]]):
        super().__init__(conflicts)
        self.conflicts = conflicts


class TagMissing(Exception):
    """delete_tag named a key the run does not have."""


class RunTooLarge(Exception):
    """The change would push the META item past DynamoDB's item limit."""


@dataclass
class RunChange:
    """What one optimistic write of a run changes. ``info`` sets scalar attributes (None
    removes one); ``params`` are new params (an equal re-log is a no-op, another value a
    ParamConflict); ``tags`` are set in order; ``metrics`` holds, per key, the best new point
    of this change (MLflow's latest-value order)."""

    info: dict[str, Any] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    delete_tags: list[str] = field(default_factory=list)
    metrics: dict[str, MetricPoint] = field(default_factory=dict)
    # Items written in the same transaction (a few history points), or alone when META
    # does not change.
    extra_puts: list[Item] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many extra items (spills, LATEST items...) the change may write at most."""
        # a tag may move two items: its spilled value and its tag index entry
        return (
            len(self.params)
            + 2 * len(self.tags)
            + 2 * len(self.delete_tags)
            + len(self.metrics)
            + len(self.extra_puts)
        )


@dataclass
class RunWrite:
    """A planned write: the new META (version not yet bumped) and the other items."""

    meta: Item
    puts: list[Item] = field(default_factory=list)
    deletes: list[Item] = field(default_factory=list)
    # trigram postings of the run name (the ``mlflow.runName`` tag, which search_runs'
    # ``attributes.run_name`` compares), when the change moves it
    names: PostingChange = field(default_factory=PostingChange)
    # per metric key written: the entry its new point was compared with (None: none), which
    # its LATEST item must still hold when the write lands (metric_update.replaces_condition)
    replaced: dict[str, Item | None] = field(default_factory=dict)


def name_document(meta: Item) -> postings.Document:
    """The run's name in the trigram index: one posting list per experiment."""
    return postings.Document(
        str(meta.get("workspace", "")),
        postings.RUN_NAME,
        str(meta["experiment_id"]),
        meta["run_id"],
    )


def stored_run_name(meta: Item, fetch: Fetch) -> str | None:
    """The ``mlflow.runName`` tag of a META item (read from its item when spilled)."""
    value = meta.get("tags", {}).get(MLFLOW_RUN_NAME)
    if is_spilled(value):
        found = fetch([keys.run_tag_key(meta["run_id"], MLFLOW_RUN_NAME)])
        value = found[0]["value"] if found else None
    return value if isinstance(value, str) else None


def _name_change(meta: Item, change: RunChange, fetch: Fetch) -> PostingChange:
    if MLFLOW_RUN_NAME in change.delete_tags:
        new = None
    elif MLFLOW_RUN_NAME in change.tags:
        new = change.tags[MLFLOW_RUN_NAME]
    else:
        return PostingChange()
    old = stored_run_name(meta, fetch)
    return postings.moved(name_document(meta), old, new if isinstance(new, str) else None)


def plan_change(
    meta: Item,
    change: RunChange,
    fetch: Fetch,
    indexed: Indexed | None = None,
    value_fields: tuple[str, ...] = (),
) -> RunWrite | None:
    """The write that applies ``change`` to ``meta``, or None when nothing would change.
    ``fetch`` reads items (spilled values) consistently; tags whose keys ``indexed`` accepts
    get their tag index entry put (or deleted) in the same write; ``value_fields`` (the
    configured run_tag_value / run_param_value) get their trigram postings moved with it."""
    spilled = _fetch_spilled(meta, change, fetch)
    _check_params(meta, change, spilled)

    new = copy.deepcopy(meta)
    write = RunWrite(new)
    budget = _Budget(estimate_item_size(meta))
    changed = False
    run_id = meta["run_id"]

    for name, value in change.info.items():
        if value is None:
            changed |= new.pop(name, None) is not None
        elif new.get(name) != value:
            new[name] = value
            changed = True

    for key, value in change.params.items():
        if key in new["params"]:
            continue  # an equal value was logged already
        changed = True
        if needs_spill(value) or budget.full:
            new["params"][key] = spill_marker()
            write.puts.append(
                {**keys.param_key(run_id, key), "run_id": run_id, "key": key, "value": value}
            )
        else:
            new["params"][key] = value
            budget.add(key, value)

    for key, value in change.tags.items():
        old = new["tags"].get(key)
        if key in new["tags"] and old == value:
            continue  # a tag set to None is still a tag, as the SQL store's row
        changed = True
        # Over budget, an inline value may only be replaced in place by one no longer.
        grows = not isinstance(old, str) or len(str(value or "")) > len(old)
        if needs_spill(value) or (budget.full and grows):
            new["tags"][key] = spill_marker()
            write.puts.append(
                {**keys.run_tag_key(run_id, key), "run_id": run_id, "key": key, "value": value}
            )
        else:
            if is_spilled(old):
                write.deletes.append(keys.run_tag_key(run_id, key))
            new["tags"][key] = value
            budget.add(key, value)
        _index_entry(write, meta, key, value, indexed)

    for key in change.delete_tags:
        if key not in new["tags"]:
            raise TagMissing(key)
        if is_spilled(new["tags"].pop(key)):
            write.deletes.append(keys.run_tag_key(run_id, key))
        _index_entry(write, meta, key, None, indexed)
        changed = True

    for key, (value, timestamp, step) in change.metrics.items():
        current = new["metrics"].get(key)
        current_entry = spilled.get(("metric", key)) if is_spilled(current) else current
        if current_entry is not None and metric_sort_key(value, timestamp, step) <= (
            metric_sort_key(
                metric_entry_value(current_entry), current_entry["timestamp"], current_entry["step"]
            )
        ):
            continue
        changed = True
        write.replaced[key] = current_entry
        entry = metric_entry(value, timestamp, step)
        if is_spilled(current) or (current is None and budget.full):
            new["metrics"][key] = spill_marker()
        else:
            new["metrics"][key] = entry
            budget.add(key, entry)
        write.puts.append(latest_item(run_id, meta["experiment_id"], key, value, timestamp, step))

    if not changed:
        return None
    write.puts.extend(change.extra_puts)
    write.names = _name_change(meta, change, fetch)
    write.names.extend(
        value_postings.change_postings(
            meta, change.tags, change.delete_tags, change.params, fetch, value_fields
        )
    )
    if estimate_item_size(new) > META_HARD_LIMIT_BYTES:
        raise RunTooLarge(run_id)
    return write


def _index_entry(
    write: RunWrite, meta: Item, key: str, value: str | None, indexed: Indexed | None
) -> None:
    """Put the tag's index entry (its value changed) or delete it (tag deleted, or set to
    None: no value to find it by)."""
    if indexed is None or not tag_index_keys.indexable_key(key) or not indexed(key):
        return
    run_id = meta["run_id"]
    if value is None:
        write.deletes.append(tag_index_keys.run_entry_key(run_id, key))
    else:
        entry = tag_index_keys.run_entry(
            run_id, str(meta["experiment_id"]), key, str(value), meta.get("workspace")
        )
        write.puts.append(entry)


class _Budget:
    """Running estimate of META's size, to decide when new entries must spill."""

    def __init__(self, size: int):
        self.size = size

    @property
    def full(self) -> bool:
        return self.size > META_SOFT_LIMIT_BYTES

    def add(self, key: str, value: Any) -> None:
        self.size += len(key.encode("utf-8")) + 1 + estimate_size(value)


def _fetch_spilled(meta: Item, change: RunChange, fetch: Fetch) -> dict[tuple[str, str], Any]:
    """Spilled values the change must compare against: params it re-logs, metrics it
    updates."""
    run_id = meta["run_id"]
    wanted: list[Item] = [
        keys.param_key(run_id, k) for k in change.params if is_spilled(meta["params"].get(k))
    ]
    wanted += [
        keys.metric_latest_key(run_id, k)
        for k in change.metrics
        if is_spilled(meta["metrics"].get(k))
    ]
    found: dict[tuple[str, str], Any] = {}
    for item in fetch(wanted) if wanted else []:
        if item["SK"] == keys.METRIC_LATEST_SK:
            found[("metric", item["key"])] = item
        else:
            found[("param", item["key"])] = item["value"]
    return found


def check_params(meta: Item, params: dict[str, str], fetch: Fetch) -> None:
    """Raise ParamConflict if any of ``params`` was logged with another value."""
    change = RunChange(params=params)
    _check_params(meta, change, _fetch_spilled(meta, change, fetch))


def _check_params(meta: Item, change: RunChange, spilled: dict[tuple[str, str], Any]) -> None:
    conflicts = []
    for key, value in change.params.items():
        if key not in meta["params"]:
            continue
        old = meta["params"][key]
        if is_spilled(old):
            old = spilled.get(("param", key))
        if old != value:
            conflicts.append({"key": key, "old_value": old, "new_value": value})
    if conflicts:
        raise ParamConflict(conflicts)


def split_change(change: RunChange, max_items: int) -> list[RunChange]:
    """Split a big change into parts that each fit one transaction: params first, then
    metrics, then tags (the SQL store's order), ``info`` with the first part."""
    if change.size <= max_items:
        return [change]
    parts: list[RunChange] = [RunChange(info=dict(change.info), extra_puts=change.extra_puts)]

    def room() -> RunChange:
        if parts[-1].size >= max_items:
            parts.append(RunChange())
        return parts[-1]

    for key, value in change.params.items():
        room().params[key] = value
    for key, point in change.metrics.items():
        room().metrics[key] = point
    for key, value in change.tags.items():
        room().tags[key] = value
    for key in change.delete_tags:
        room().delete_tags.append(key)
    return parts
