"""Turning run META items read by a walk into RunViews the filter and order can judge.

Per page of META items: apply the effective lifecycle (the experiment may be deleted) and
the view type, resolve spilled values only for the keys the search looks at (one
BatchGetItem, none when nothing is spilled), drop runs failing the cheap clauses, and only
for the survivors read dataset inputs when the filter has ``datasets.`` clauses.
"""

from __future__ import annotations

from typing import Any

from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT, MLFLOW_RUN_NAME

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.runs.items import (
    is_spilled,
    metric_entry_value,
    resolve_spilled,
)
from mlflow_dynamodbstore.repositories.runs.live import has_live, merge_live
from mlflow_dynamodbstore.repositories.runs.repository import effective_run_lifecycle
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.search.runs.filter import DATASET, METRIC, PARAM, TAG, RunFilter
from mlflow_dynamodbstore.search.runs.order import RunOrder
from mlflow_dynamodbstore.search.runs.reads import read_lives, read_run_partition
from mlflow_dynamodbstore.search.runs.view import DatasetRef, MetricValue, RunView

Item = dict[str, Any]
_MAPS = {PARAM: "params", TAG: "tags", METRIC: "metrics"}


class ViewLoader:
    def __init__(
        self,
        gateway: TableGateway,
        experiments: dict[str, Item],
        stages: set[str],
        run_filter: RunFilter,
        order: RunOrder,
    ):
        self.gateway = gateway
        self.experiments = experiments
        self.stages = stages
        self.run_filter = run_filter
        self._cheap = RunFilter(tuple(c for c in run_filter.clauses if c.kind != DATASET))
        # The map keys the search reads: spilled values are fetched for these only.
        self._relevant: dict[str, set[str]] = {m: set() for m in _MAPS.values()}
        for c in (*run_filter.clauses, *order.clauses):
            if c.kind in _MAPS:
                self._relevant[_MAPS[c.kind]].add(c.key)
        self._relevant["tags"].add(MLFLOW_RUN_NAME)  # attributes.run_name filters read it
        # Run partitions already read (for dataset filters), reused to build the results.
        self.partitions: dict[str, list[Item]] = {}

    def load(self, metas: list[Item], lives: dict[str, Item] | None = None) -> list[RunView]:
        """Views of the runs among ``metas`` the search may return. Runs whose META says a
        LIVE item may hold newer metric values (repositories/runs/live.py) get them merged:
        from ``lives`` when the caller read them, else one BatchGetItem for the page."""
        metas = self._merge_live(metas, lives)
        views = []
        for meta in metas:
            experiment = self.experiments.get(str(meta.get("experiment_id")))
            if experiment is None:
                continue  # not a searched experiment (or not in this workspace)
            stage, _ = effective_run_lifecycle(meta, experiment)
            if stage in self.stages:
                views.append((meta, stage))
        resolved = self._resolve_relevant([meta for meta, _ in views])
        out = [
            view_from_meta(meta, stage) for meta, (_, stage) in zip(resolved, views, strict=True)
        ]
        out = [v for v in out if self._cheap.matches(v)]
        if self.run_filter.needs_datasets:
            for view in out:
                view.datasets = datasets_of(self.partition(view.run_id))
        return out

    def _merge_live(self, metas: list[Item], lives: dict[str, Item] | None) -> list[Item]:
        flagged = [m["run_id"] for m in metas if has_live(m)]
        if not flagged:
            return metas
        if lives is None:
            lives = read_lives(self.gateway, flagged)
        return [merge_live(m, lives.get(m["run_id"])) if has_live(m) else m for m in metas]

    def partition(self, run_id: str) -> list[Item]:
        if run_id not in self.partitions:
            self.partitions[run_id] = read_run_partition(self.gateway, run_id)
        return self.partitions[run_id]

    def _resolve_relevant(self, metas: list[Item]) -> list[Item]:
        """Copies of ``metas`` whose relevant spilled entries hold their values."""
        trimmed, positions = [], []
        for i, meta in enumerate(metas):
            part = {
                name: {
                    k: meta.get(name, {})[k] for k in ks if is_spilled(meta.get(name, {}).get(k))
                }
                for name, ks in self._relevant.items()
            }
            if any(part.values()):
                trimmed.append({"run_id": meta["run_id"], **part})
                positions.append(i)
        if not trimmed:
            return metas
        out = list(metas)
        for i, values in zip(positions, resolve_spilled(self.gateway, trimmed), strict=True):
            out[i] = {
                **metas[i],
                **{name: {**metas[i].get(name, {}), **values[name]} for name in _MAPS.values()},
            }
        return out


def view_from_meta(meta: Item, lifecycle_stage: str) -> RunView:
    """A view of a META item; entries still spilled (not looked at) are left out."""
    return RunView(
        run_id=meta["run_id"],
        experiment_id=str(meta["experiment_id"]),
        run_name=meta.get("run_name"),
        user_id=meta.get("user_id"),
        status=meta.get("status"),
        start_time=_int(meta.get("start_time")),
        end_time=_int(meta.get("end_time")),
        artifact_uri=meta.get("artifact_uri"),
        lifecycle_stage=lifecycle_stage,
        params={k: v for k, v in meta.get("params", {}).items() if isinstance(v, str)},
        tags={k: v for k, v in meta.get("tags", {}).items() if isinstance(v, str)},
        metrics={
            k: MetricValue.of(metric_entry_value(e))
            for k, e in meta.get("metrics", {}).items()
            if not is_spilled(e)
        },
        source=meta,
    )


def datasets_of(partition: list[Item]) -> list[DatasetRef]:
    """The dataset inputs among a run partition's items (big datasets' extra parts, which
    carry no name, are skipped; input tags are a list of {key, value})."""
    refs = []
    for item in partition:
        if item["SK"].startswith(keys.RUN_INPUT_PREFIX) and "name" in item:
            context = next(
                (t["value"] for t in item.get("tags") or [] if t["key"] == MLFLOW_DATASET_CONTEXT),
                None,
            )
            refs.append(DatasetRef(item["name"], item["digest"], context))
    return refs


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
