"""``traces backfill-stats``: write the trace analytics stats items of traces logged before
they existed (docs/trace-analytics.md)."""

from __future__ import annotations

import click

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
    """Write the analytics stats item of every trace of STORE_URI that lacks a current one.
    Resumable: an interrupted run continues where it stopped when run again."""
    visited = 0

    def progress(n: int) -> None:
        nonlocal visited
        visited += n
        if n:
            click.echo(f"... {visited} traces", err=True)

    report = backfill_trace_stats(_gateway(store_uri), progress)
    click.echo(f"{report.traces} traces visited, {report.written} stats items written")
