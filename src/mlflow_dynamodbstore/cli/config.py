"""``config show``: the store's settings as the table holds them (what every server uses)."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import click
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.config import StoreSettings
from mlflow_dynamodbstore.config.items import ConfigItems


def _as_dict(settings: StoreSettings) -> dict[str, Any]:
    return {
        "version": settings.version,
        "denormalize_tags": list(settings.denormalize_tags),
        "fts_trigram_fields": list(settings.fts_trigram_fields),
        "retention": asdict(settings.retention),
        "experiment_denormalize_tags": {
            experiment_id: list(globs)
            for experiment_id, globs in settings.experiment_denormalize_tags
        },
    }


def _rows(settings: StoreSettings) -> list[tuple[str, str]]:
    retention = settings.retention
    rows = [
        ("version", f"{settings.version}" + ("" if settings.version else " (nothing stored)")),
        ("denormalize_tags", ", ".join(settings.denormalize_tags)),
        ("fts_trigram_fields", ", ".join(settings.fts_trigram_fields)),
        ("soft_deleted_retention_days", _days(retention.soft_deleted_retention_days)),
        ("trace_retention_days", _days(retention.trace_retention_days)),
        ("metric_history_retention_days", _days(retention.metric_history_retention_days)),
    ]
    if not settings.experiment_denormalize_tags:
        rows.append(("experiment_denormalize_tags", "(none)"))
    for experiment_id, globs in settings.experiment_denormalize_tags:
        rows.append((f"experiment_denormalize_tags[{experiment_id}]", ", ".join(globs)))
    return rows


def _days(days: int) -> str:
    return f"{days}" if days else "0 (keep forever)"


@click.group("config")
def config() -> None:
    """The store's settings, kept in the table and shared by every server."""


@config.command("show")
@click.argument("store_uri")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(store_uri: str, as_json: bool) -> None:
    """Show the settings STORE_URI's table holds (defaults when nothing is stored)."""
    from mlflow_dynamodbstore.stores.connection import connect

    try:
        # {}: this shell's variables are not reconciled into the table by a look at it.
        conn = connect(store_uri, shared=False, settings_environ={})
        # Read here, not through conn.settings: an unreadable item must be an error, not
        # the defaults a server would fall back to.
        settings = ConfigItems(conn.gateway).load() or StoreSettings()
    except MlflowException as exc:
        raise click.ClickException(f"{exc.error_code}: {exc.message}") from None
    if as_json:
        click.echo(json.dumps(_as_dict(settings), indent=2))
        return
    rows = [("SETTING", "VALUE"), *_rows(settings)]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name:<{width}}  {value}".rstrip())
