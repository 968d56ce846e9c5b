"""Permanent deletion of one run or one experiment with everything it owns, shared by
``ttl cleanup`` and ``mlflow gc`` (the store's ``_hard_delete_*``).

The per-root order is the workspace cascade's (workspaces/cascade.py): children first, the
root's partition last, so an interrupted purge can be run again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import ConditionFailed
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.workspaces.cascade import Cascade
from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory

Gateway = Any  # a TableGateway, or the lifecycle jobs' CountingGateway over one


def _cascade(gateway: Gateway, workspace: str) -> Cascade:
    return Cascade(WorkspaceInventory.of(gateway, workspace))


def purge_run(
    gateway: Gateway,
    workspace: str,
    run_id: str,
    metric_keys: Iterable[str],
    meta: dict | None = None,
) -> None:
    """The run's name postings, metric-history partitions (LATEST items included), then its
    partition (spilled params/tags, inputs, outputs, META). ``meta``: what leads to the name
    postings (experiment id, tags), from META or from the deletion marker."""
    _cascade(gateway, workspace).run(
        {
            "workspace": workspace,
            **(meta or {}),
            "run_id": run_id,
            "metrics": dict.fromkeys(metric_keys),
        }
    )


def purge_experiment(
    gateway: Gateway,
    workspace: str,
    experiment_id: str,
    name: str | None,
    meta: dict | None = None,
) -> bool:
    """Every run (all lifecycle stages), trace, logged model, labeling item, scorer and
    dataset item of the experiment, its partition, then its name guard (only if it still
    names this experiment). With its ``meta`` (still there), the marker of its deletion goes
    too. True when the guard was deleted."""
    # Without META (expired), the name still leads to the experiment's name postings.
    _cascade(gateway, workspace).experiment(
        meta or {"workspace": workspace, "experiment_id": experiment_id, "name": name}
    )
    if name is None:
        return False
    with contextlib.suppress(ConditionFailed):
        gateway.delete_item(
            keys.experiment_name_key(workspace, name),
            condition=Attr("experiment_id").eq(experiment_id),
        )
        return True
    return False
