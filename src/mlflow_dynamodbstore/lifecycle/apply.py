"""``ttl apply``: rewrite the ``ttl`` of existing items to the policies in force now.

A policy change applies to new writes by itself; this job brings older items in line when
the user asks:

1. soft-deleted owners: every deletion-index marker not yet processed by cleanup (its
   owner still that deletion) gets META's ``ttl`` from the soft-deleted policy (removed when
   the policy is off); deleted model versions (per workspace, through
   ``MODEL_VERSIONS_BY_WORKSPACE``) likewise;
2. per workspace and experiment: every trace (``TRACES_BY_TIMESTAMP``) whose ttl differs
   from what ``trace_ttl`` gives now has each item of its partition updated; every run's
   (``RUNS_BY_START_TIME``) metric-history points and blocks get ``ttl`` = their (newest)
   point's timestamp + the metric-history retention, rewritten by BatchWriteItem (they are
   immutable, content-keyed items). LATEST items and META never get one.

Resumable: a record (``CONFIG`` / ``JOB#LIFECYCLE_APPLY``) names the last experiment done;
a rerun skips up to it (phase 1 is cheap and idempotent and runs again). Cost: proportional
to the items rewritten plus one Query per listing page and partition — the whole table's
traces and histories are visited, so it is an explicit admin step, never automatic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.config import RetentionPolicy
from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.gateway.optimistic import version_of
from mlflow_dynamodbstore.lifecycle.cleanup import Cleanup
from mlflow_dynamodbstore.lifecycle.clock import Clock, resolve
from mlflow_dynamodbstore.lifecycle.deletions import DeletionIndex
from mlflow_dynamodbstore.lifecycle.ttl import (
    deleted_version_ttl,
    metric_history_ttl,
    soft_delete_ttl,
    trace_ttl,
)
from mlflow_dynamodbstore.lifecycle.writes import CountingGateway
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG, LIVE_METRICS, LIVE_VERSION
from mlflow_dynamodbstore.repositories.runs.metric_history import (
    RECENT,
    RECENT_SEQ,
    MetricHistoryRepository,
    block_sort_keys,
    live_flushed_items,
)
from mlflow_dynamodbstore.repositories.runs.repository import effective_run_lifecycle
from mlflow_dynamodbstore.repositories.runs.stepping import LIVE_BUFFERED, LIVE_FLUSH_SEQ, flush_seq
from mlflow_dynamodbstore.repositories.traces import value_postings as trace_value_postings
from mlflow_dynamodbstore.schema import indexes, keys, lifecycle_keys, table
from mlflow_dynamodbstore.schema.live_step_keys import buffer_key_of
from mlflow_dynamodbstore.schema.metric_rank_keys import live_key
from mlflow_dynamodbstore.schema.table import TTL_ATTRIBUTE
from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory

Item = dict[str, Any]
_DELETED_VERSION_STAGE = "Deleted_Internal"  # MLflow's STAGE_DELETED_INTERNAL


@dataclass
class ApplySummary:
    dry_run: bool
    deleted_owners: int = 0
    model_versions: int = 0
    traces: int = 0
    history_items: int = 0
    experiments: int = 0
    items_rewritten: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _differs(item: Item, ttl: int | None) -> bool:
    current = item.get(TTL_ATTRIBUTE)
    return (None if current is None else int(current)) != ttl


class TtlApply:
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

    # ---- the walk ------------------------------------------------------------------
    def workspaces(self) -> list[str]:
        listing = indexes.WORKSPACES_BY_NAME
        items = self.table.query(listing.pk_eq(keys.WORKSPACES_GSI1PK), index=listing.index)
        return [i["name"] for i in items]

    def experiments(self) -> Iterator[tuple[str, Item]]:
        for workspace in self.workspaces():
            for experiment in WorkspaceInventory.of(self.table, workspace).experiments():
                yield workspace, experiment

    def count(self) -> int:
        """Experiments to visit (the progress bar's length): listings only."""
        return sum(1 for _ in self.experiments())

    def run(self, progress: Callable[[int], None] | None = None) -> ApplySummary:
        summary = ApplySummary(self.dry_run)
        self._deleted_owners(summary)
        for workspace in self.workspaces():
            self._deleted_versions(workspace, summary)
        record = self.table.get_item(lifecycle_keys.apply_job_key())
        resume = None if record is None else (record["at_workspace"], record["experiment_id"])
        for workspace, experiment in self.experiments():
            experiment_id = str(experiment["experiment_id"])
            if resume is not None:
                if (workspace, experiment_id) == resume:
                    resume = None
                if progress is not None:
                    progress(1)
                continue
            self._experiment(workspace, experiment, summary)
            summary.experiments += 1
            if not self.dry_run:
                self.table.put_item(
                    {
                        **lifecycle_keys.apply_job_key(),
                        "at_workspace": workspace,
                        "experiment_id": experiment_id,
                    }
                )
            if progress is not None:
                progress(1)
        if not self.dry_run:
            self.table.delete_item(lifecycle_keys.apply_job_key())
        summary.items_rewritten = self.writes.rewritten
        return summary

    # ---- 1. soft-deleted owners ----------------------------------------------------
    def _deleted_owners(self, summary: ApplySummary) -> None:
        today = lifecycle_keys.day_of(int(self.clock() * 1000))
        first = Cleanup(self.table, self.policy, clock=self.clock).first_day()
        index = DeletionIndex(self.table)
        for day in lifecycle_keys.days_between(first, today):
            for marker in index.markers(day):
                deleted_time = int(marker["deleted_time"])
                key = (
                    keys.run_key(marker["owner_id"])
                    if marker["kind"] == lifecycle_keys.KIND_RUN
                    else keys.experiment_key(marker["owner_id"])
                )
                meta = self.table.get_item(key)
                if meta is None or meta.get("lifecycle_stage") != LifecycleStage.DELETED:
                    continue
                if int(meta.get("deleted_time") or 0) != deleted_time:
                    continue
                ttl = soft_delete_ttl(self.policy, deleted_time)
                if marker["kind"] == lifecycle_keys.KIND_RUN and not self._still_deleted(meta):
                    ttl = None  # brought back by restoring its experiment
                if _differs(meta, ttl) and self._set_ttl(
                    key, ttl, Attr("deleted_time").eq(deleted_time), bump_version="version" in meta
                ):
                    summary.deleted_owners += 1

    def _still_deleted(self, run_meta: Item) -> bool:
        experiment = self.table.get_item(keys.experiment_key(str(run_meta["experiment_id"])))
        stage, _ = effective_run_lifecycle(run_meta, experiment)
        return stage == LifecycleStage.DELETED

    def _deleted_versions(self, workspace: str, summary: ApplySummary) -> None:
        for version in WorkspaceInventory.of(self.table, workspace).model_versions():
            if version.get("current_stage") != _DELETED_VERSION_STAGE:
                continue
            ttl = deleted_version_ttl(self.policy, int(version["last_updated_time"]))
            key = {"PK": version["PK"], "SK": version["SK"]}
            if _differs(version, ttl) and self._set_ttl(
                key, ttl, Attr("current_stage").eq(_DELETED_VERSION_STAGE)
            ):
                summary.model_versions += 1

    def _set_ttl(
        self, key: Item, ttl: int | None, condition: Any, *, bump_version: bool = False
    ) -> bool:
        names = {"#ttl": TTL_ATTRIBUTE}
        values: dict[str, Any] = {}
        if ttl is None:
            expression = "REMOVE #ttl"
        else:
            expression, values[":ttl"] = "SET #ttl = :ttl", ttl
        if bump_version:  # optimistic writers of run META re-read instead of undoing it
            expression += (", " if ttl is not None else " SET ") + "#v = #v + :one"
            names["#v"], values[":one"] = "version", 1
        try:
            self.writes.update_item(
                key,
                expression,
                names=names,
                values=values or None,
                condition=Attr(table.PK).exists() & condition,
            )
        except ConditionFailed:
            return False
        return True

    # ---- 2. traces and metric histories of one experiment ----------------------------
    def _experiment(self, workspace: str, experiment: Item, summary: ApplySummary) -> None:
        experiment_id = str(experiment["experiment_id"])
        inventory = WorkspaceInventory.of(self.table, workspace)
        tags = experiment.get("tags") or {}
        for trace in inventory.traces(experiment_id):
            ttl = trace_ttl(self.policy, tags, int(trace["timestamp_ms"]))
            if not _differs(trace, ttl):
                continue
            for item in self.table.query(Key(table.PK).eq(trace["PK"]), consistent=True):
                if _differs(item, ttl):
                    key = {"PK": item["PK"], "SK": item["SK"]}
                    # META's optimistic writers must re-read rather than put the old ttl
                    # back; the stats item's version is META's, left alone
                    bump = item["SK"] == keys.META and "version" in item
                    self._set_ttl(key, ttl, Attr(table.SK).exists(), bump_version=bump)
            self._trace_value_postings(trace, ttl)
            summary.traces += 1
        for run in inventory.runs(experiment_id):
            live_keys = self._flush_live(run, summary)
            for metric_key in {*(run.get("metrics") or {}), *live_keys}:
                self._history(run["run_id"], metric_key, summary)

    def _trace_value_postings(self, trace: Item, ttl: int | None) -> None:
        """The trace's tag / metadata value postings expire with it: rewritten with its new
        ttl (repositories/traces/value_postings.py), when those fields are configured."""
        fields = field_postings.table_trace_value_fields(self.table)
        if not fields or not trace_value_postings.has_values(trace):
            return
        meta = {k: v for k, v in trace.items() if k != TTL_ATTRIBUTE}
        if ttl is not None:
            meta[TTL_ATTRIBUTE] = ttl
        self.writes.batch_write(puts=trace_value_postings.posting_items(meta, fields))

    def _flush_live(self, run: Item, summary: ApplySummary) -> set[str]:
        """The keys of the run's LIVE item (repositories/runs/stepping.py); with a
        metric-history retention, the points its buffers hold are written as blocks with
        their ``ttl`` and the buffers emptied (if no step changed LIVE since this read; the
        steps that follow see the retention and buffer nothing)."""
        if not run.get(LIVE_FLAG):
            return set()
        live = self.table.get_item(live_key(run["run_id"]))
        if live is None:
            return set()
        found = set(live.get(LIVE_METRICS) or {})
        buffers = [a for a in live if buffer_key_of(a) is not None and live[a]]
        if not buffers or self.policy.metric_history_retention_days <= 0:
            return found
        seq = flush_seq(live) + 1
        blocks = live_flushed_items(run["run_id"], live, seq)
        for item in blocks:
            item[TTL_ATTRIBUTE] = metric_history_ttl(self.policy, _newest_point_ms(item))
        self.writes.batch_write(puts=blocks)
        names = {"#v": LIVE_VERSION, "#fs": LIVE_FLUSH_SEQ, "#n": LIVE_BUFFERED}
        names |= {f"#b{i}": a for i, a in enumerate(buffers)}
        sets = ", ".join(
            ["#fs = :seq", "#n = :zero", *(f"#b{i} = :e" for i in range(len(buffers)))]
        )
        with contextlib.suppress(ConditionFailed):
            self.writes.update_item(
                live_key(run["run_id"]),
                f"SET {sets} ADD #v :one",
                names=names,
                values={":seq": seq, ":zero": 0, ":e": [], ":one": 1},
                condition=version_of(live, LIVE_VERSION).condition,
            )
        summary.history_items += len(blocks)
        return found

    def _history(self, run_id: str, metric_key: str, summary: ApplySummary) -> None:
        pk = keys.metric_history_pk(run_id, metric_key)
        changed = []
        for item in self.table.query(Key(table.PK).eq(pk), consistent=True):
            if item["SK"] == keys.METRIC_LATEST_SK:
                # LATEST never expires; the recent points it buffers do, once flushed
                summary.history_items += self._flush_buffer(run_id, item)
                continue
            ttl = metric_history_ttl(self.policy, _newest_point_ms(item))
            if _differs(item, ttl):
                rewritten = {k: v for k, v in item.items() if k != TTL_ATTRIBUTE}
                if ttl is not None:
                    rewritten[TTL_ATTRIBUTE] = ttl
                changed.append(rewritten)
        self.writes.batch_write(puts=changed)
        summary.history_items += len(changed)

    def _flush_buffer(self, run_id: str, latest: Item) -> int:
        """With a metric-history retention, the block items (with their ``ttl``) of the
        points buffered in a LATEST item, which is emptied after them (if no step changed
        the buffer since this read; a step that did finds the retention on and writes no
        more into it)."""
        if not latest.get(RECENT) or self.policy.metric_history_retention_days <= 0:
            return 0
        block = MetricHistoryRepository.flushed_items(run_id, latest)
        for item in block:
            item[TTL_ATTRIBUTE] = metric_history_ttl(self.policy, _newest_point_ms(item))
        self.writes.batch_write(puts=block)
        seq = latest.get(RECENT_SEQ)
        condition = Attr(RECENT).size().eq(len(latest[RECENT]))
        condition &= Attr(RECENT_SEQ).not_exists() if seq is None else Attr(RECENT_SEQ).eq(seq)
        with contextlib.suppress(ConditionFailed):
            self.writes.update_item(
                {"PK": latest["PK"], "SK": latest["SK"]},
                "REMOVE #r ADD #s :one",
                names={"#r": RECENT, "#s": RECENT_SEQ},
                values={":one": 1},
                condition=condition,
            )
        return len(block)


def _newest_point_ms(item: Item) -> int:
    """A point's timestamp, or a block's newest (the history's own write-time stand-in)."""
    sks = block_sort_keys(item["points"]) if "points" in item else [item["SK"]]
    return max(keys.decode_metric_history_sk(sk)[0] for sk in sks)
