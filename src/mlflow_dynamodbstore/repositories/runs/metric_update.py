"""The one-request way to log newer values of metrics a run already has.

A training loop logs the same metric keys step after step, each point newer than the last.
For that case no read is needed: one TransactWriteItems updates META's ``metrics`` entries
in place, conditioned on the run being in the workspace and active, on every stored entry
being older (step, then timestamp) and on the experiment being active, and puts the LATEST
(rank) items in the same transaction. Anything else (a new key, an older or tied point, a
spilled entry, a deleted run, a race) fails a condition, and the caller falls back to the
read-plan-write path (``RunRepository.commit``), which decides what really applies.
"""

from __future__ import annotations

from typing import Any

from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.repositories.runs.changes import MetricPoint
from mlflow_dynamodbstore.repositories.runs.items import metric_entry

Item = dict[str, Any]
# DynamoDB caps each expression at 4 KB; about 80 bytes of condition per key keeps 25
# keys well inside it (and a transaction's 100 actions).
MAX_KEYS = 25


def newer_metrics_update(
    workspace: str, metrics: dict[str, MetricPoint]
) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """(UpdateExpression, ConditionExpression, names, values) that set each metric's META
    entry, bump ``version`` (so optimistic writers re-read), and hold only if every stored
    entry is an inline entry strictly older in (step, timestamp) than its new point."""
    names = {
        "#m": "metrics",
        "#ws": "workspace",
        "#ls": "lifecycle_stage",
        "#ver": "version",
        "#st": "step",
        "#ts": "timestamp",
    }
    values: dict[str, Any] = {
        ":ws": workspace,
        ":active": LifecycleStage.ACTIVE,
        ":one": 1,
    }
    sets, conditions = [], ["#ws = :ws", "#ls = :active"]
    for i, (key, (value, timestamp, step)) in enumerate(metrics.items()):
        names[f"#k{i}"] = key  # a placeholder per key: metric names may hold dots
        values[f":e{i}"] = metric_entry(value, timestamp, step)
        values[f":s{i}"] = int(step)
        values[f":t{i}"] = int(timestamp)
        entry = f"#m.#k{i}"
        sets.append(f"{entry} = :e{i}")
        # A spilled entry ({"spilled": true}) has no step, so it never passes.
        conditions.append(f"({entry}.#st < :s{i} OR ({entry}.#st = :s{i} AND {entry}.#ts < :t{i}))")
    update = "SET " + ", ".join(sets) + " ADD #ver :one"
    return update, " AND ".join(conditions), names, values
