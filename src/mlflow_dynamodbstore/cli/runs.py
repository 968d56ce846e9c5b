"""``runs backfill-ranks``: move the metric rank entries of experiments created before
sharding into their shards, so searches ordered by a metric skip the unsharded partition
(docs/schema.md, "Rank entries are sharded"). Optional: searches read both layouts.
``runs settle-idle``: settle runs left RUNNING that stopped stepping (lifecycle/settle_idle.py)."""

from __future__ import annotations

import json
import sys

import click

from mlflow_dynamodbstore.backfills.metric_ranks import backfill_metric_ranks


@click.group("runs")
def runs() -> None:
    """The runs' indexes."""


@runs.command("backfill-ranks")
@click.argument("store_uri")
@click.option("--dry-run", is_flag=True, help="Count experiments and entries, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def backfill_ranks(store_uri: str, dry_run: bool, as_json: bool) -> None:
    """Move every unsharded metric rank entry of STORE_URI's experiments into its shard and
    mark each experiment done. Resumable (marked experiments are skipped) and idempotent;
    safe beside live traffic once every server runs a version that shards."""
    from mlflow_dynamodbstore.stores.connection import connect

    conn = connect(store_uri, shared=False)
    stderr = sys.stderr
    with click.progressbar(length=0, label="experiments", show_pos=True, file=stderr) as bar:
        report = backfill_metric_ranks(conn.gateway, bar.update, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, indent=2))
        return
    verb = "would move" if dry_run else "moved"
    click.echo(
        f"{report.experiments} experiments: {verb} {report.entries} rank entries "
        f"({report.skipped} sharded already)"
    )


@runs.command("settle-idle")
@click.argument("store_uri")
@click.option(
    "--idle-minutes",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Settle RUNNING runs whose newest logged point is older than this.",
)
@click.option("--dry-run", is_flag=True, help="Count idle runs, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def settle_idle(store_uri: str, idle_minutes: int, dry_run: bool, as_json: bool) -> None:
    """Settle STORE_URI's runs left RUNNING that stopped logging metrics (a crashed training
    script): they leave the stepping lists that ordered searches read, keeping their
    status and every value (docs/access-patterns.md, "The step gate"). Idempotent; a run
    that logs again steps as before. Reads the experiments' gate lists, never a Scan."""
    from mlflow.utils.time import get_current_time_millis

    from mlflow_dynamodbstore.lifecycle.settle_idle import settle_idle_runs
    from mlflow_dynamodbstore.stores.connection import connect

    conn = connect(store_uri, shared=False)
    with click.progressbar(length=0, label="experiments", show_pos=True, file=sys.stderr) as bar:
        report = settle_idle_runs(
            conn.gateway,
            idle_minutes * 60_000,
            get_current_time_millis(),
            bar.update,
            dry_run=dry_run,
            settings=conn.settings,
        )
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, indent=2))
        return
    verb = "would settle" if dry_run else "settled"
    click.echo(
        f"{report.experiments} experiments, {report.listed} stepping runs: {verb} "
        f"{report.idle} idle for over {idle_minutes} min, {report.finished} ended or gone"
    )
