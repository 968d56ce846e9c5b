"""The one-request way to log newer values of metrics a run already has.

A training loop logs the same metric keys step after step, each point newer than the last.
For that case no read is needed: one TransactWriteItems checks that the run is in the
workspace, active and has a LIVE item (``live.LIVE_FLAG`` on META), that its experiment is
active, sets each key's entry in the run's LIVE item (live.py), and updates each key's
LATEST (rank) item on condition that its stored point is older (step, then timestamp).
META is not written, so neither is its GSI1 listing entry. Anything else (a new key, an
older or tied point, a deleted run, a run without LIVE, a race) fails a condition, and the
caller falls back to the read-plan-write path (``RunRepository.commit``), which decides
what really applies.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, ConditionBase
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.repositories.runs.changes import MetricPoint
from mlflow_dynamodbstore.repositories.runs.items import metric_entry
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG, LIVE_METRICS, LIVE_VERSION

Item = dict[str, Any]
# A condition over an update's own placeholders: (expression, names, values).
Guard = tuple[str, dict[str, str], dict[str, Any]]
# DynamoDB caps each expression at 4 KB; about 80 bytes per key in LIVE's update keeps 25
# keys well inside it (and a transaction's 100 actions).
MAX_KEYS = 25


def run_ready_condition(workspace: str) -> ConditionBase:
    """META's ConditionCheck: the run is in ``workspace``, active, and has a LIVE item."""
    return (
        Attr("workspace").eq(workspace)
        & Attr("lifecycle_stage").eq(LifecycleStage.ACTIVE)
        & Attr(LIVE_FLAG).eq(True)
    )


def live_update(
    run_id: str, metrics: dict[str, MetricPoint]
) -> tuple[str, str, dict[str, str], dict[str, Any]]:
    """(UpdateExpression, ConditionExpression, names, values) setting each metric's LIVE
    entry and bumping LIVE's ``version`` (which the read-plan-write path checks). The
    condition (LIVE exists) keeps the update from creating a LIVE item by itself."""
    # No ``workspace`` on LIVE: like the LATEST items it is reached only through its run,
    # whose META carries the workspace (checked by this transaction), so a workspace
    # reassignment moving META moves LIVE with it.
    names = {"#m": LIVE_METRICS, "#rid": "run_id", "#ver": LIVE_VERSION}
    values: dict[str, Any] = {":rid": run_id, ":one": 1}
    sets = ["#rid = :rid"]
    for i, (key, (value, timestamp, step)) in enumerate(metrics.items()):
        names[f"#k{i}"] = key  # a placeholder per key: metric names may hold dots
        values[f":e{i}"] = metric_entry(value, timestamp, step)
        sets.append(f"#m.#k{i} = :e{i}")
    update = "SET " + ", ".join(sets) + " ADD #ver :one"
    return update, "attribute_exists(#m)", names, values


def newer_condition(prefix: str, point: MetricPoint) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A LATEST item's condition that its stored point is strictly older in (step,
    timestamp) than ``point``: (expression, names, values) with ``prefix``ed placeholders."""
    _, timestamp, step = point
    names = {f"#{prefix}st": "step", f"#{prefix}ts": "timestamp"}
    values = {f":{prefix}ns": int(step), f":{prefix}nt": int(timestamp)}
    st, ts, ns, nt = f"#{prefix}st", f"#{prefix}ts", f":{prefix}ns", f":{prefix}nt"
    # no parentheses around the whole: callers wrap it, and DynamoDB refuses redundant ones
    return f"{st} < {ns} OR ({st} = {ns} AND {ts} < {nt})", names, values


def replaces_condition(prefix: str, point: MetricPoint, expected: Item | None) -> Guard:
    """The read-plan-write path's condition on a LATEST item it updates: the stored point is
    the entry the plan compared ``point`` with (``expected``; none: no LATEST yet), or
    strictly older than ``point`` anyway. It fails when a training step put a newer point in
    LIVE and LATEST since META was read; the path then re-reads, with LIVE."""
    newer, names, values = newer_condition(prefix, point)
    st = f"#{prefix}st"
    if expected is None:
        return f"attribute_not_exists({st}) OR {newer}", names, values
    names[f"#{prefix}v"] = "value"
    values[f":{prefix}es"] = int(expected["step"])
    values[f":{prefix}et"] = int(expected["timestamp"])
    values[f":{prefix}ev"] = expected["value"]
    same = f"({st} = :{prefix}es AND #{prefix}ts = :{prefix}et AND #{prefix}v = :{prefix}ev)"
    return f"{newer} OR {same}", names, values
