"""Backfill of tag index entries (docs/tag-index.md) for runs and experiments written before
their tag keys were indexed (tables from before the index, or a glob added later).

A resumable job with a record in the table (``CONFIG`` / ``JOB#TAG_INDEX_BACKFILL``): every
workspace (``default`` first, then by name), every experiment of it (active, then deleted:
its listing order), the experiment's own entries, then every run of the experiment (GSI1,
any lifecycle stage) gets an entry for each tag whose key matches the configured globs
(``settings.tag_patterns_for(experiment)``). The record holds the cursor (workspace,
experiment, last run listing key), saved every ``SAVE_EVERY`` runs and after each
experiment; a rerun resumes there. Listings only, never a Scan.

Entries are put only where none exists (``attribute_not_exists``): a live write racing the
backfill always wins, since every write since the glob was configured maintains its entry
itself. ``rewrite`` overwrites existing entries too (for a glob that was removed and is
added again, whose old entries may hold old values; run it when nobody writes tags).
When the walk ends, the globs it covered are marked complete in the state item and the
search starts using them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import Attr
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.config.settings import StoreSettings
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.repositories.runs.items import is_spilled
from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE, TagIndexState
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.schema import indexes, keys, tag_index_keys
from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory

SAVE_EVERY = 100
Item = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of runs visited since last call


@dataclass
class TagBackfillReport:
    experiments: int = 0
    runs: int = 0
    entries: int = 0  # entries written (or, in a dry run, that would be considered)
    marked: dict[str, list[str]] = field(default_factory=dict)  # scope -> globs now complete
    resumed: bool = False


def _workspaces(gateway: TableGateway) -> list[str]:
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    return [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]


class _Writer:
    def __init__(self, gateway: TableGateway, rewrite: bool, dry_run: bool):
        self.gateway, self.rewrite, self.dry_run = gateway, rewrite, dry_run
        self.written = 0

    def put(self, entry: Item) -> None:
        if self.dry_run:
            self.written += 1
            return
        try:
            condition = None if self.rewrite else Attr("PK").not_exists()
            self.gateway.put_item(entry, condition=condition)
            self.written += 1
        except ConditionFailed:
            pass  # a live write (or an earlier run of this job) made it


def _tag_values(gateway: TableGateway, meta: Item, wanted: list[str]) -> Iterator[tuple]:
    """(key, value) of the run's tags among ``wanted``; spilled values read from their item."""
    tags = meta.get("tags") or {}
    for key in wanted:
        value = tags[key]
        if is_spilled(value):
            item = gateway.get_item(keys.run_tag_key(meta["run_id"], key))
            value = None if item is None else item.get("value")
        if value is not None:
            yield key, str(value)


def backfill_tag_index(
    gateway: TableGateway,
    settings: StoreSettings,
    *,
    experiment_id: str | None = None,
    dry_run: bool = False,
    rewrite: bool = False,
    progress: Progress | None = None,
) -> TagBackfillReport:
    """Run (or resume) the backfill over the table, or over one experiment's runs;
    ``gateway`` is unscoped (each workspace is read and written through its own scope)."""
    progress = progress or (lambda _n: None)
    record_key = tag_index_keys.backfill_record_key()
    cursor = {} if dry_run else (gateway.get_item(record_key) or {})
    if cursor.get("experiment_filter", "") != (experiment_id or ""):
        cursor = {}  # a record of another kind of run: start over (every write is idempotent)
    report = TagBackfillReport(resumed=bool(cursor))

    def save(workspace: str, exp: str, after: str | None, finished: bool) -> None:
        if dry_run:
            return
        item = {**record_key, "workspace": workspace, "experiment_id": exp}
        item.update(finished=finished, experiment_filter=experiment_id or "")
        if after is not None:
            item["after"] = after
        gateway.put_item(item)

    listing = indexes.RUNS_BY_START_TIME
    workspaces = _workspaces(gateway)
    if cursor.get("workspace") not in workspaces:
        cursor = {}
    for workspace in workspaces:
        if cursor and workspace != cursor["workspace"]:
            continue
        inventory = WorkspaceInventory.of(gateway, workspace)
        writer = _Writer(inventory.gateway, rewrite, dry_run)
        experiments = [
            e
            for e in inventory.experiments()
            if experiment_id is None or str(e["experiment_id"]) == experiment_id
        ]
        ids = [str(e["experiment_id"]) for e in experiments]
        first, after = 0, None
        if cursor and cursor["experiment_id"] in ids:
            first = ids.index(cursor["experiment_id"])
            after = cursor.get("after")
            if cursor.get("finished"):
                first, after = first + 1, None
        cursor = {}
        for meta in experiments[first:]:
            exp = str(meta["experiment_id"])
            report.experiments += 1
            if experiment_id is None and after is None:
                for key, value in (meta.get("tags") or {}).items():
                    if (
                        value is not None
                        and tag_index_keys.indexable_key(key)
                        and settings.indexes_tag(None, key)
                    ):
                        entry = tag_index_keys.experiment_entry(workspace, exp, key, str(value))
                        writer.put(entry)
            runs = inventory.gateway.query(
                listing.key_condition(keys.runs_gsi1pk(exp), **({"below": after} if after else {})),
                index=listing.index,
                forward=False,
            )
            visited = 0
            for run in runs:
                wanted = [
                    k
                    for k in (run.get("tags") or {})
                    if tag_index_keys.indexable_key(k) and settings.indexes_tag(exp, k)
                ]
                for key, value in _tag_values(inventory.gateway, run, wanted):
                    entry = tag_index_keys.run_entry(
                        run["run_id"], exp, key, value, run.get("workspace") or workspace
                    )
                    writer.put(entry)
                visited += 1
                report.runs += 1
                if visited % SAVE_EVERY == 0:
                    save(workspace, exp, listing.sort_key(run), False)
                    progress(SAVE_EVERY)
            progress(visited % SAVE_EVERY)
            save(workspace, exp, None, True)
            after = None
        report.entries += writer.written
    if dry_run:
        return report
    state = TagIndexState(gateway)
    if experiment_id is None:
        report.marked[TABLE_SCOPE] = list(settings.denormalize_tags)
        state.mark_ready(TABLE_SCOPE, settings.denormalize_tags)
        scopes = dict(settings.experiment_denormalize_tags)
    else:
        scopes = {experiment_id: settings.tag_patterns_for(experiment_id)}
    for scope, globs in scopes.items():
        if globs:
            report.marked[scope] = list(globs)
            state.mark_ready(scope, globs)
    gateway.delete_item(record_key)
    return report
