"""``ttl show|set|apply|cleanup``: the retention policies and the jobs that enforce them
(docs/lifecycle.md)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, replace
from typing import Any

import click
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.config import RetentionPolicy
from mlflow_dynamodbstore.lifecycle.apply import TtlApply
from mlflow_dynamodbstore.lifecycle.cleanup import Cleanup

_DAYS = click.IntRange(min=0)


def _connection(store_uri: str):
    from mlflow_dynamodbstore.stores.connection import connect

    try:
        return connect(store_uri)
    except MlflowException as exc:
        raise click.ClickException(f"{exc.error_code}: {exc.message}") from None


def _policy(conn) -> RetentionPolicy:
    return conn.settings.current().retention


def _echo_summary(title: str, values: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    click.echo(title)
    for name, value in values.items():
        click.echo(f"  {name}: {value}")


@click.group("ttl")
def ttl() -> None:
    """Retention policies (DynamoDB TTL) and the cleanup of expired entities."""


@ttl.command("show")
@click.argument("store_uri")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(store_uri: str, as_json: bool) -> None:
    """Show the retention policies in force (days; 0 keeps forever) and those stored in
    the table's settings item (what `ttl set` wrote; servers reconcile them with their
    environment)."""
    from mlflow_dynamodbstore.config.items import ConfigItems

    conn = _connection(store_uri)
    values: dict[str, Any] = {k: int(v) for k, v in asdict(_policy(conn)).items()}
    stored = ConfigItems(conn.gateway).load()
    values["stored_in_table"] = None if stored is None else asdict(stored.retention)
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    table_values = values.pop("stored_in_table")
    for name, days in values.items():
        click.echo(f"{name}: {days if days else 'off (keep forever)'}")
    click.echo(f"stored in the table: {table_values if table_values else 'nothing yet'}")


@ttl.command("set")
@click.argument("store_uri")
@click.option("--soft-deleted-retention-days", type=_DAYS, default=None)
@click.option("--trace-retention-days", type=_DAYS, default=None)
@click.option("--metric-history-retention-days", type=_DAYS, default=None)
def set_policy(store_uri: str, **days: int | None) -> None:
    """Change policies in the table (every server picks them up); applies to new writes —
    run `ttl apply` to rewrite existing items."""
    from mlflow_dynamodbstore.config.items import ConfigItems

    change = {k: v for k, v in days.items() if v is not None}
    if not change:
        raise click.UsageError("give at least one policy to set")
    conn = _connection(store_uri)
    stored = ConfigItems(conn.gateway).update(
        lambda s: replace(s, retention=replace(s.retention, **change)),
        initial=conn.settings.current(),
    )
    for name, value in asdict(stored.retention).items():
        click.echo(f"{name}: {value}")


def _progress_run(job, length: int, label: str):
    with click.progressbar(length=max(length, 1), label=label, file=sys.stderr) as bar:
        try:
            return job.run(progress=bar.update)
        except MlflowException as exc:
            raise click.ClickException(f"{exc.error_code}: {exc.message}") from None


@ttl.command("apply")
@click.argument("store_uri")
@click.option("--dry-run", is_flag=True, help="Count what would be rewritten; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def apply(store_uri: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Rewrite the ttl of existing items (soft-deleted owners, deleted model versions,
    traces, metric histories) to the policies in force. Resumable."""
    conn = _connection(store_uri)
    policy = _policy(conn)
    if not dry_run and not yes:
        click.confirm(
            f"Rewrite ttl of existing items to {asdict(policy)}? Items may expire soon after.",
            abort=True,
        )
    job = TtlApply(conn.gateway, policy, dry_run=dry_run)
    summary = _progress_run(job, job.count(), "experiments")
    _echo_summary("ttl apply" + (" (dry run)" if dry_run else ""), summary.as_dict(), as_json)


@ttl.command("cleanup")
@click.argument("store_uri")
@click.option("--dry-run", is_flag=True, help="Count what would be deleted; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def cleanup(store_uri: str, dry_run: bool, yes: bool, as_json: bool) -> None:
    """Permanently delete soft-deleted runs and experiments past their retention, with all
    they own, and orphans of owners already gone. Walks the deletion index by day (no
    Scan); resumable."""
    conn = _connection(store_uri)
    policy = _policy(conn)
    job = Cleanup(conn.gateway, policy, dry_run=dry_run)
    _, days = job.plan()
    if not days:
        click.echo("soft_deleted_retention_days is 0: nothing expires.", err=True)
    elif not dry_run and not yes:
        click.confirm(
            f"Permanently delete what was deleted more than "
            f"{policy.soft_deleted_retention_days} days ago?",
            abort=True,
        )
    summary = _progress_run(job, len(days), "days")
    _echo_summary("ttl cleanup" + (" (dry run)" if dry_run else ""), summary.as_dict(), as_json)
