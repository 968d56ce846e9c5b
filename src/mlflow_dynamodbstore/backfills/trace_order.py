"""Backfill of the trace listings search_traces pages by (docs/trace-paging.md) for traces
logged before them: ``traces backfill-order``. Each trace gets its execution-time keys
(TRACES_BY_EXECUTION_TIME, schema/trace_order_keys.py) and, without a name, its keys on the
unnamed traces' listing (TRACES_WITHOUT_NAME, schema/trace_name_order_keys.py; named traces
are on their name's listing, which ``fts backfill`` keys).

A resumable job with a record in the table (``CONFIG`` / ``JOB#TRACE_ORDER_BACKFILL``), in
the shape of backfills/trace_stats.py: every workspace (``default`` first, then by name),
every experiment of it, every trace of the experiment (GSI3, newest first) gets the keys its
META item would get from a write today, by an UpdateItem conditioned on the ``version``
read. A condition that fails means a write got there first: the META is read again (a
write of this version has set the keys; one of an older server has not, and is keyed
now). The keys change nothing else, so ``version`` is not bumped. The record holds the
cursor (workspace, experiment, last GSI3 key), saved every ``SAVE_EVERY`` traces and after
each experiment; when every workspace is done the table is marked ready for both listings
(search_traces then pages execution-time and name orders by them) and the record deleted.
Listings only, never a Scan: O(experiments + traces) requests, 1 UpdateItem per trace that
lacks its keys.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import TEMPORARILY_UNAVAILABLE

from mlflow_dynamodbstore.backfills.trace_stats import _workspaces
from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.gateway.optimistic import version_of
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.traces import listings
from mlflow_dynamodbstore.repositories.traces.codec import (
    execution_time_keys,
    nameless_listing_keys,
)
from mlflow_dynamodbstore.repositories.traces.repository import TraceRepository
from mlflow_dynamodbstore.schema import indexes, keys, trace_order_keys
from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory

Item = dict[str, Any]
SAVE_EVERY = 100
_ATTEMPTS = 10
Progress = Callable[[int], None]  # called with the number of traces visited since last call


@dataclass
class TraceOrderBackfillReport:
    traces: int = 0  # traces visited
    keyed: int = 0  # traces given their keys (or, with dry_run, that lack them)
    resumed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _order_keys(meta: Item) -> dict[str, str]:
    """The listing keys a META written today carries (and this backfill gives)."""
    wanted = execution_time_keys(meta)
    if meta.get("trace_name") is None:
        wanted.update(nameless_listing_keys(meta))
    return wanted


def _lacks_keys(meta: Item) -> bool:
    return any(meta.get(k) != v for k, v in _order_keys(meta).items())


def _key_trace(gateway: TableGateway, meta: Item | None) -> bool:
    """Give one META its keys unless it has them; whether this call wrote them."""
    for _ in range(_ATTEMPTS):
        if meta is None or not _lacks_keys(meta):
            return False
        expression, names, values = set_expression(_order_keys(meta))
        try:
            gateway.update_item(
                keys.trace_key(meta["trace_id"]),
                expression,
                names=names,
                values=values,
                condition=version_of(meta).condition,
            )
            return True
        except ConditionFailed:
            meta = gateway.get_item(keys.trace_key(meta["trace_id"]))
    raise MlflowException(
        f"Trace '{meta['trace_id']}' kept changing while it was keyed; run the backfill again.",
        TEMPORARILY_UNAVAILABLE,
    )


def backfill_trace_order(
    gateway: TableGateway, progress: Progress | None = None, *, dry_run: bool = False
) -> TraceOrderBackfillReport:
    """Run (or resume) the backfill; ``gateway`` is unscoped (each workspace is read and
    written through its own scope). ``dry_run`` counts the traces that lack their keys and
    writes nothing (no record, no readiness)."""
    progress = progress or (lambda _n: None)
    record_key = trace_order_keys.backfill_key()
    cursor = {} if dry_run else gateway.get_item(record_key) or {}
    report = TraceOrderBackfillReport(resumed=bool(cursor))

    def save(workspace: str, experiment_id: str, after: str | None, finished: bool) -> None:
        if dry_run:
            return
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
                if dry_run:
                    report.keyed += _lacks_keys(meta)
                else:
                    report.keyed += _key_trace(inventory.gateway, meta)
                visited += 1
                if visited % SAVE_EVERY == 0:
                    save(workspace, experiment_id, listing.sort_key(meta), False)
                    progress(SAVE_EVERY)
            progress(visited % SAVE_EVERY)
            save(workspace, experiment_id, None, True)
            after = None
    if not dry_run:
        listings.READINESS.mark(gateway, True)
        listings.NAMELESS_READINESS.mark(gateway, True)
        gateway.delete_item(record_key)
    return report
