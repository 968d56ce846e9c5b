"""Conditions on LATEST items of the read-plan-write path, and the step's key limit.

``replaces_condition`` makes the read path's LATEST update fail when the stored point is
neither the entry it planned against nor older than its own (a concurrent writer moved
it): the path then re-reads, with LIVE (repositories/runs/repository.py). The training
step itself is option D's (live_step.py).
"""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.repositories.runs.changes import MetricPoint

Item = dict[str, Any]
# A condition over an update's own placeholders: (expression, names, values).
Guard = tuple[str, dict[str, str], dict[str, Any]]
# DynamoDB caps each expression at 4 KB; about 80 bytes per key in LIVE's update keeps 25
# keys well inside it (and a transaction's 100 actions).
MAX_KEYS = 25


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
