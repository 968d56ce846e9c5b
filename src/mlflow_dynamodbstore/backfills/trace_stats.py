"""Backfill of trace stats items (trace analytics) for traces logged before they existed.

A resumable job with a record in the table (``CONFIG`` / ``JOB#TRACE_STATS_BACKFILL``):
every workspace (``default`` first, then by name), every experiment of it (its listing
order), every trace of the experiment (GSI3, newest first) gets its stats item written from
its META, unless one of the same or a newer version is there (the same conditional write
every META write makes, so running it beside live traffic is safe). The record holds the
cursor (workspace, experiment, last trace listing key), saved every ``SAVE_EVERY`` traces
and after each experiment; a rerun resumes there, and a finished run deletes it. Reads are
listings only, never a Scan: O(experiments + traces) requests, 1 conditional PutItem per
trace; traces with a session id also get their session member and head (1 GetItem,
1 TransactWriteItems, 1 Query of the session, ≤ 1 UpdateItem: repositories/traces/sessions.py).

A trace whose spans were stored before span cost facts existed (META without ``span_costs``)
first gets its cost record built from its stored spans (repositories/traces/cost_records.py:
1 consistent Query of its partition, 1 conditional PutItem of META, whose stats write is the
1 TransactWriteItems moving its cells out of "not summed"); archived traces keep none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories.traces import cost_records
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.schema import analytics_keys, indexes
from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory

SAVE_EVERY = 100
Progress = Callable[[int], None]  # called with the number of traces visited since last call


@dataclass
class BackfillReport:
    traces: int = 0  # traces visited
    written: int = 0  # stats items written (the rest were already current)
    sessions: int = 0  # traces with a session whose member was (re)written and settled
    cost_records: int = 0  # traces whose cost record was built from their stored spans


def _workspaces(gateway: TableGateway) -> list[str]:
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    return [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]


def backfill_trace_stats(gateway: TableGateway, progress: Progress | None = None) -> BackfillReport:
    """Run (or resume) the backfill; ``gateway`` is unscoped (each workspace is read and
    written through its own scope)."""
    progress = progress or (lambda _n: None)
    record_key = analytics_keys.trace_stats_backfill_key()
    cursor = gateway.get_item(record_key) or {}
    report = BackfillReport()

    def save(workspace: str, experiment_id: str, after: str | None, finished: bool) -> None:
        item = {**record_key, "workspace": workspace, "experiment_id": experiment_id}
        item["finished"] = finished
        if after is not None:
            item["after"] = after
        gateway.put_item(item)

    listing = indexes.TRACES_BY_TIMESTAMP
    workspaces = _workspaces(gateway)
    if cursor.get("workspace") not in workspaces:
        cursor = {}  # its workspace is gone: start over (every write is idempotent)
    for workspace in workspaces:
        if cursor and workspace != cursor["workspace"]:
            continue
        inventory = WorkspaceInventory.of(gateway, workspace)
        traces = TraceRepository(inventory.gateway)
        experiment_ids = [str(e["experiment_id"]) for e in inventory.experiments()]
        first, after = 0, None
        if cursor and cursor["experiment_id"] in experiment_ids:
            first = experiment_ids.index(cursor["experiment_id"])
            after = cursor.get("after")
            if cursor.get("finished"):
                first, after = first + 1, None
        cursor = {}
        for experiment_id in experiment_ids[first:]:
            visited = 0
            for meta in traces.list_experiment(experiment_id, after=after):
                report.traces += 1
                built = None
                if cost_records.needs_record(meta):  # (re-checked on a consistent read)
                    built = cost_records.build_cost_record(traces, meta["trace_id"])
                if built is not None:
                    # Its stats item was written with META, at the new version.
                    report.cost_records += 1
                    report.written += 1
                else:
                    report.written += traces.stats.put(meta)
                # Its session's member and head (traces counted before sessions existed).
                report.sessions += traces.stats.rollups.sessions.backfill(meta["trace_id"])
                visited += 1
                if visited % SAVE_EVERY == 0:
                    save(workspace, experiment_id, listing.sort_key(meta), False)
                    progress(SAVE_EVERY)
            progress(visited % SAVE_EVERY)
            save(workspace, experiment_id, None, True)
            after = None
    gateway.delete_item(record_key)
    return report
