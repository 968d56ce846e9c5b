"""Runs stepping a metric through their LIVE item, merged into an order by that metric.

A run that steps key ``k`` through LIVE (option D, repositories/runs/stepping.py) has no
value-ordered rank entry for ``k`` while it steps: its LATEST item sits in the ``~S#``
range of its shard, and its current value is the merge of META's and LIVE's entries. The
ranked walk (planner.py) reads those entries beside the value pages, reads the runs' META
and LIVE, and merges their current values into the value stream here — within the walk's
key range (cursor and filter bounds), NaN values into the NaN group. The cost grows with
the experiment's runs stepping ``k`` (one BatchGetItem per 50), not with its size.
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.repositories.runs.items import is_spilled, metric_entry_value
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.search.runs.bounds import KeyRange
from mlflow_dynamodbstore.search.runs.order import Desc
from mlflow_dynamodbstore.search.runs.page import Candidate
from mlflow_dynamodbstore.search.runs.view import RunView, sql_metric_value

Item = dict[str, Any]


def _value_of(view: RunView, key: str) -> float | None:
    entry = (view.source or {}).get("metrics", {}).get(key)
    if entry is None or is_spilled(entry):
        return None
    return metric_entry_value(entry)


def stepping_candidates(
    views: list[RunView], experiment_id: str, key: str, ascending: bool, key_range: KeyRange
) -> list[Candidate]:
    """Candidates of the stepping runs whose current (non-NaN) value of ``key`` lies in
    ``key_range``, sorted as the ranked stream of ``ascending``."""
    found: list[Candidate] = []
    for view in views:
        value = _value_of(view, key)
        if value is None or view.metrics.get(key) is None or view.metrics[key].is_nan:
            continue
        sort_key = indexes.RUNS_BY_METRIC.sort_key(
            keys.metric_rank_keys(experiment_id, key, value, view.run_id)
        )
        if key_range.empty:
            continue
        if key_range.lower is not None and sort_key < key_range.lower:
            continue
        if key_range.upper is not None and sort_key > key_range.upper:
            continue
        ranked = sql_metric_value(value)
        found.append(((ranked if ascending else Desc(ranked)), ranked, view))
    found.sort(key=lambda candidate: candidate[0])
    return found


def stepping_nan(views: list[RunView], key: str) -> list[RunView]:
    """The stepping runs whose current value of ``key`` is NaN."""
    return [v for v in views if key in v.metrics and v.metrics[key].is_nan]
