"""``registry backfill-order``: give registered models and model versions written before
the registry's ordered listings their keys, so the registry searches page with keyset
tokens (docs/access-patterns.md, "Paging")."""

from __future__ import annotations

import json
import sys

import click

from mlflow_dynamodbstore.backfills.registry_order import backfill_registry_order


@click.group("registry")
def registry() -> None:
    """The model registry's indexes."""


@registry.command("backfill-order")
@click.argument("store_uri")
@click.option("--dry-run", is_flag=True, help="Count models and versions, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def backfill_order(store_uri: str, dry_run: bool, as_json: bool) -> None:
    """Add the update and creation listing keys to every registered model and model version
    of STORE_URI, then mark the table ready. Resumable (an interrupted run continues after
    its last saved page) and idempotent; safe beside live traffic."""
    from mlflow_dynamodbstore.stores.connection import connect

    conn = connect(store_uri, shared=False)
    stderr = sys.stderr
    with click.progressbar(length=0, label="models", show_pos=True, file=stderr) as bar:
        report = backfill_registry_order(conn.gateway, bar.update, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, indent=2))
        return
    verb = "would be keyed" if dry_run else "keyed"
    click.echo(f"{report.models} models and {report.versions} live versions {verb}")
