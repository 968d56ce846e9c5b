"""``traces backfill-stats``: write the trace analytics stats items of traces logged before
they existed (docs/trace-analytics.md). ``traces backfill-order``: give older traces their
execution-time and unnamed-trace listing keys (docs/trace-paging.md). ``traces cache``: copy
recent traces' spans from AWS X-Ray into the table (docs/xray.md)."""

from __future__ import annotations

import json
import sys

import click

from mlflow_dynamodbstore.backfills.trace_order import backfill_trace_order
from mlflow_dynamodbstore.backfills.trace_stats import backfill_trace_stats


def _gateway(store_uri: str):
    from mlflow_dynamodbstore.stores.connection import connect

    return connect(store_uri).gateway


@click.group("traces")
def traces() -> None:
    """Maintenance of the traces in the table."""


@traces.command("backfill-stats")
@click.argument("store_uri")
def backfill_stats(store_uri: str) -> None:
    """Write the analytics stats item of every trace of STORE_URI that lacks a current one
    (building the span cost record of traces stored before span cost facts existed).
    Resumable: an interrupted run continues where it stopped when run again."""
    visited = 0

    def progress(n: int) -> None:
        nonlocal visited
        visited += n
        if n:
            click.echo(f"... {visited} traces", err=True)

    report = backfill_trace_stats(_gateway(store_uri), progress)
    click.echo(
        f"{report.traces} traces visited, {report.written} stats items written, "
        f"{report.sessions} session members recorded, "
        f"{report.cost_records} span cost records built"
    )


@traces.command("backfill-order")
@click.argument("store_uri")
@click.option("--dry-run", is_flag=True, help="Count the traces that lack the keys, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def backfill_order(store_uri: str, dry_run: bool, as_json: bool) -> None:
    """Add the execution-time listing keys (and, to traces without a name, the unnamed
    traces' listing keys) to every trace of STORE_URI that lacks them, then mark the table
    ready (search_traces pages execution-time and trace-name orders by those indexes; the
    name order also needs `fts backfill`'s trace names). Resumable and idempotent; safe
    beside live traffic once every server runs this version."""
    from mlflow_dynamodbstore.stores.connection import connect

    conn = connect(store_uri, shared=False)
    stderr = sys.stderr
    with click.progressbar(length=0, label="traces", show_pos=True, file=stderr) as bar:
        report = backfill_trace_order(conn.gateway, bar.update, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, indent=2))
        return
    verb = "lack their keys" if dry_run else "keyed"
    click.echo(f"{report.traces} traces visited, {report.keyed} {verb}")


# Traces cached per round: one BatchGetItem of X-Ray states, BatchGetTraces of 5 ids.
_CACHE_BATCH = 25
_OUTCOMES = ("cached", "already_cached", "missing", "error")


@traces.command("cache")
@click.argument("store_uri")
@click.option("--experiment-id", "experiment_ids", multiple=True, required=True, help="Repeatable.")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=30,
    show_default=True,
    help="Only traces started in the last N days (X-Ray keeps traces 30 days).",
)
@click.option("--workspace", default=None, help="The experiments' workspace (if enabled).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def cache(
    store_uri: str, experiment_ids: tuple[str, ...], days: int, workspace, as_json: bool
) -> None:
    """Copy the spans of recent traces from AWS X-Ray into the table before X-Ray expires
    them (docs/xray.md). Traces whose spans are already in the table are skipped, so an
    interrupted run is simply run again."""
    import contextlib

    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
    from mlflow_dynamodbstore.uri import parse_dynamodb_uri

    if parse_dynamodb_uri(store_uri).xray is False:
        raise click.UsageError("the store URI says ?xray=false; this command reads X-Ray")
    if parse_dynamodb_uri(store_uri).xray is None:
        store_uri = f"{store_uri}?xray=true"
    store = DynamoDBTrackingStore(store_uri)
    counts = dict.fromkeys(_OUTCOMES, 0)
    scope = WorkspaceContext(workspace) if workspace else contextlib.nullcontext()
    with scope:
        metas = [m for e in experiment_ids for m in store.xray_recent_traces(e, days)]
        with click.progressbar(
            length=len(metas),
            label="Caching spans from X-Ray",
            file=sys.stderr,
        ) as bar:
            for start in range(0, len(metas), _CACHE_BATCH):
                chunk = metas[start : start + _CACHE_BATCH]
                for outcome in store.xray_cache(chunk).values():
                    counts[outcome] += 1
                bar.update(len(chunk))
    if as_json:
        click.echo(json.dumps({"traces": len(metas), **counts}))
    else:
        click.echo(
            f"{len(metas)} traces: {counts['cached']} cached, {counts['already_cached']} "
            f"already cached, {counts['missing']} missing in X-Ray, {counts['error']} errors"
        )
