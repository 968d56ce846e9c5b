"""Backfill of sharded metric rank entries (schema/metric_rank_keys.py) for experiments
created before sharding: ``runs backfill-ranks``.

Searches ordered by a metric read an older experiment's unsharded rank partition
(``EXP#<exp>#M#<key>``) as one more shard; this job moves those entries into their shards
so the experiment can be marked (``metric_rank_shards`` on its META) and its searches skip
that partition. Nothing depends on running it: the reads accept both layouts.

Per workspace, per experiment not yet marked: its runs (RUNS_BY_START_TIME), the metric
keys their META items hold, then per key the unsharded partition (RUNS_BY_METRIC), each
entry's LATEST item updated to its shard's partition key on condition that it is still in
the unsharded one (a training step that moved it first wins; both write the same key).
Then the experiment is marked. The marks are the job's record: an interrupted run redoes
only the experiment it was in (idempotent). Listings only, never a Scan. Cost: the
experiment's run listing read once, 1 Query per metric key, 1 UpdateItem per entry moved
and 1 per experiment.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.repositories.experiments import ExperimentRepository
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.schema import indexes, keys
from mlflow_dynamodbstore.schema.metric_rank_keys import (
    RANK_SHARDS,
    SHARDED_RANKS_ATTRIBUTE,
    rank_shard,
    sharded_rank_pk,
)

Item = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of experiments done


@dataclass
class MetricRankBackfillReport:
    experiments: int = 0  # experiments marked (or that would be)
    entries: int = 0  # rank entries moved (or that would be)
    skipped: int = 0  # experiments marked already

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backfill_metric_ranks(
    gateway: TableGateway, progress: Progress = lambda n: None, *, dry_run: bool = False
) -> MetricRankBackfillReport:
    """Move every experiment's unsharded rank entries into their shards and mark it."""
    report = MetricRankBackfillReport()
    experiments = ExperimentRepository(gateway)
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    for workspace in [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]:
        for experiment in experiments.list_in_workspace(workspace):
            if experiment.get(SHARDED_RANKS_ATTRIBUTE):
                report.skipped += 1
            else:
                report.entries += _backfill_experiment(gateway, experiment, dry_run)
                report.experiments += 1
            progress(1)
    return report


def _backfill_experiment(gateway: TableGateway, experiment: Item, dry_run: bool) -> int:
    experiment_id = str(experiment["experiment_id"])
    metric_keys: set[str] = set()
    runs = gateway.query(
        indexes.RUNS_BY_START_TIME.pk_eq(keys.runs_gsi1pk(experiment_id)),
        index=indexes.RUNS_BY_START_TIME.index,
    )
    for run in runs:
        metric_keys.update(run.get("metrics") or {})
    moved = 0
    pattern = indexes.RUNS_BY_METRIC
    for key in sorted(metric_keys):
        legacy = keys.metric_rank_pk(experiment_id, key)
        for entry in gateway.query(pattern.pk_eq(legacy), index=pattern.index):
            moved += 1
            if dry_run:
                continue
            run_id = entry["run_id"]
            try:
                gateway.update_item(
                    keys.metric_latest_key(run_id, key),
                    "SET #rank_pk = :shard",
                    names={"#rank_pk": pattern.pk},
                    values={":shard": sharded_rank_pk(experiment_id, key, rank_shard(run_id))},
                    condition=Attr(pattern.pk).eq(legacy),
                )
            except ConditionFailed:
                moved -= 1  # a step moved it first (GSI reads lag the table)
    if not dry_run:
        gateway.update_item(
            keys.experiment_key(experiment_id),
            "SET #shards = :shards",
            names={"#shards": SHARDED_RANKS_ATTRIBUTE},
            values={":shards": RANK_SHARDS},
            condition=Attr("PK").exists(),
        )
    return moved
