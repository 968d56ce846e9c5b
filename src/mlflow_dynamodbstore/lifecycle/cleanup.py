"""``ttl cleanup``: remove soft-deleted runs and experiments whose retention has passed,
with every item they own, by walking the deletion index day by day (never a Scan).

For each marker of a day that is due (deleted at or before now - retention):

- the owner's META is read (consistent). If the owner was restored, deleted again later,
  or brought back by restoring its experiment, the marker is stale: it is dropped (and a
  run's leftover ``ttl`` removed, so DynamoDB TTL cannot take a live run).
- otherwise META is deleted first, conditioned on still being that deletion, so a restore
  racing the cleanup either wins (cleanup then skips) or finds the entity gone; then what
  it owned is deleted through the workspace cascade's per-root code (a run: its metric
  history partitions, then its partition; an experiment: its runs, traces, logged models,
  labeling items, scorers, dataset items, then its partition) and its name guard;
- an owner already gone (DynamoDB TTL, ``mlflow gc``, an interrupted cleanup) still has
  its leftovers removed from what the marker recorded: orphans never stay;
- the marker is deleted last, so a rerun finishes an interrupted one.

A record in the table (``CONFIG`` / ``JOB#LIFECYCLE_CLEANUP``) holds the first day not yet
fully processed; the next run starts there. Cost: one Query per shard for each day walked,
plus per expired entity one GetItem, one DeleteItem and what its cascade costs (a Query per
partition and per listing page, ⌈items / 25⌉ BatchWriteItem) — proportional to what
expired, not to the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.entities import LifecycleStage
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.config import RetentionPolicy
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.lifecycle.clock import Clock, resolve
from mlflow_dynamodbstore.lifecycle.deletions import DeletionIndex
from mlflow_dynamodbstore.lifecycle.purge import purge_experiment, purge_run
from mlflow_dynamodbstore.lifecycle.ttl import soft_delete_cutoff_ms
from mlflow_dynamodbstore.lifecycle.writes import CountingGateway
from mlflow_dynamodbstore.repositories.runs.live import live_metric_keys
from mlflow_dynamodbstore.repositories.runs.repository import effective_run_lifecycle
from mlflow_dynamodbstore.schema import keys, lifecycle_keys
from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE

Item = dict[str, Any]
# Tries at taking the ttl off a run that keeps being written meanwhile.
_KEEP_ATTEMPTS = 10
# When the table has no schema item to date its first possible deletion from.
_FALLBACK_HISTORY_DAYS = 400


@dataclass
class CleanupSummary:
    dry_run: bool
    policy_days: int
    cutoff_ms: int | None = None
    days: int = 0
    runs: int = 0
    experiments: int = 0
    orphans: int = 0  # owners already gone whose leftovers were removed
    stale: int = 0  # markers of restored (or re-deleted) owners, dropped
    items_deleted: int = 0
    next_day: str | None = None
    by_kind: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "soft_deleted_retention_days": self.policy_days,
            "cutoff_ms": self.cutoff_ms,
            "days_walked": self.days,
            "runs": self.runs,
            "experiments": self.experiments,
            "orphans": self.orphans,
            "stale_markers": self.stale,
            "items_deleted": self.items_deleted,
            "next_day": self.next_day,
        }


class Cleanup:
    """One cleanup pass. ``gateway`` is the unscoped table gateway (cleanup is above any
    workspace; each cascade runs scoped to the owner's workspace)."""

    def __init__(
        self,
        gateway: TableGateway,
        policy: RetentionPolicy,
        *,
        clock: Clock | None = None,
        dry_run: bool = False,
    ):
        self.table = gateway
        self.writes = CountingGateway(gateway, dry_run=dry_run)
        self.policy = policy
        self.clock = resolve(clock)
        self.dry_run = dry_run
        self.index = DeletionIndex(gateway)

    # ---- the days to walk ----------------------------------------------------------
    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    def first_day(self) -> date:
        record = self.table.get_item(lifecycle_keys.cleanup_job_key())
        if record is not None:
            return lifecycle_keys.parse_day(record["next_day"])
        schema = self.table.get_item(keys.schema_version_key())
        if schema is not None and schema.get("created") is not None:
            return lifecycle_keys.day_of(int(schema["created"]))
        return lifecycle_keys.day_of(self._now_ms() - _FALLBACK_HISTORY_DAYS * 86_400_000)

    def plan(self) -> tuple[int | None, list[date]]:
        """(cutoff, days to walk): nothing when the soft-deleted policy is off."""
        cutoff = soft_delete_cutoff_ms(self.policy, self._now_ms())
        if cutoff is None:
            return None, []
        return cutoff, lifecycle_keys.days_between(self.first_day(), lifecycle_keys.day_of(cutoff))

    # ---- the pass ------------------------------------------------------------------
    def run(self, progress: Callable[[int], None] | None = None) -> CleanupSummary:
        summary = CleanupSummary(self.dry_run, self.policy.soft_deleted_retention_days)
        cutoff, days = self.plan()
        summary.cutoff_ms = cutoff
        if cutoff is None:
            return summary
        last = lifecycle_keys.day_of(cutoff)
        for day in days:
            for marker in list(self.index.markers(day)):
                if int(marker["deleted_time"]) <= cutoff:
                    self._expire(marker, summary)
            summary.days += 1
            if day < last:  # every deletion of the day is due: never walk it again
                self._advance(day, summary)
            if progress is not None:
                progress(1)
        summary.items_deleted = self.writes.deleted
        return summary

    def _advance(self, day: date, summary: CleanupSummary) -> None:
        next_day = lifecycle_keys.format_day(day + timedelta(days=1))
        summary.next_day = next_day
        if not self.dry_run:
            self.table.put_item({**lifecycle_keys.cleanup_job_key(), "next_day": next_day})

    def _drop(self, marker: Item) -> None:
        if not self.dry_run:
            self.index.drop(marker)

    def _expire(self, marker: Item, summary: CleanupSummary) -> None:
        if marker["kind"] == lifecycle_keys.KIND_RUN:
            self._expire_run(marker, summary)
        elif marker["kind"] == lifecycle_keys.KIND_EXPERIMENT:
            self._expire_experiment(marker, summary)
        self._drop(marker)

    def _claim(self, key: Item, deleted_time: int) -> bool:
        """Delete META if it is still this deletion (a racing restore wins otherwise). A dry
        run leaves it for the cascade to count."""
        if self.dry_run:
            return True
        try:
            self.writes.delete_item(
                key,
                condition=Attr("lifecycle_stage").eq(LifecycleStage.DELETED)
                & Attr("deleted_time").eq(deleted_time),
            )
        except ConditionFailed:
            return False
        return True

    # ---- runs ----------------------------------------------------------------------
    def _expire_run(self, marker: Item, summary: CleanupSummary) -> None:
        run_id = marker["owner_id"]
        deleted_time = int(marker["deleted_time"])
        meta = self.table.get_item(keys.run_key(run_id))
        metric_keys = set(marker.get("metric_keys") or ())
        workspace = marker["owner_workspace"]
        if meta is not None:
            experiment = self.table.get_item(keys.experiment_key(str(meta["experiment_id"])))
            stage, _ = effective_run_lifecycle(meta, experiment)
            own = (
                meta.get("lifecycle_stage") == LifecycleStage.DELETED
                and int(meta.get("deleted_time") or 0) == deleted_time
            )
            if not own or stage != LifecycleStage.DELETED:
                summary.stale += 1
                if stage == LifecycleStage.ACTIVE and TTL_ATTRIBUTE in meta:
                    self._keep_run(meta)
                return
            if not self._claim(keys.run_key(run_id), deleted_time):
                summary.stale += 1
                return
            metric_keys |= set(meta.get("metrics") or {}) | live_metric_keys(self.table, meta)
            workspace = meta.get("workspace") or workspace
            summary.runs += 1
            # Only what leads to the name postings: the marker is dropped once, below.
            # (params too: their value postings, when run_param_value is configured)
            names = {k: meta[k] for k in ("experiment_id", "tags", "params") if k in meta}
        else:
            summary.orphans += 1
            # What the marker recorded leads to the run's name postings.
            names = {"experiment_id": marker["experiment_id"]} if "experiment_id" in marker else {}
            if "run_name" in marker:
                names["tags"] = {MLFLOW_RUN_NAME: marker["run_name"]}
        purge_run(self.writes, workspace, run_id, metric_keys, names)

    def _keep_run(self, meta: Item) -> None:
        """A run restored with its experiment keeps its own deleted stage on META (that
        restore touches no run): take the ttl off so DynamoDB TTL cannot remove it. The
        version goes up, so a writer holding the old META re-reads instead of putting the
        ttl back; a writer that got in first makes this re-read and try again."""
        run_key = keys.run_key(meta["run_id"])
        for _ in range(_KEEP_ATTEMPTS):
            if meta is None or TTL_ATTRIBUTE not in meta:
                return
            try:
                self.writes.update_item(
                    run_key,
                    "REMOVE #ttl SET #v = #v + :one",
                    names={"#ttl": TTL_ATTRIBUTE, "#v": "version"},
                    values={":one": 1},
                    condition=Attr("version").eq(meta.get("version")),
                )
                return
            except ConditionFailed:
                meta = self.table.get_item(run_key)
        raise MlflowException(
            f"Run {run_key['PK']} kept changing while cleanup took its ttl off; run cleanup "
            "again (it resumes at this day).",
            TEMPORARILY_UNAVAILABLE,
        )

    # ---- experiments ---------------------------------------------------------------
    def _expire_experiment(self, marker: Item, summary: CleanupSummary) -> None:
        experiment_id = marker["owner_id"]
        deleted_time = int(marker["deleted_time"])
        meta = self.table.get_item(keys.experiment_key(experiment_id))
        workspace, name = marker["owner_workspace"], marker.get("name")
        if meta is not None:
            stale = meta.get("lifecycle_stage") != LifecycleStage.DELETED or (
                int(meta.get("deleted_time") or 0) != deleted_time
            )
            if stale or not self._claim(keys.experiment_key(experiment_id), deleted_time):
                summary.stale += 1
                return
            workspace = meta.get("workspace") or workspace
            name = meta.get("name") or name
            summary.experiments += 1
        else:
            summary.orphans += 1
        purge_experiment(self.writes, workspace, experiment_id, name)
