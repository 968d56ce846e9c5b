"""``workspace list|create|update|delete``: manage workspaces without a running server."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.workspaces.inventory import WorkspaceInventory
from mlflow_dynamodbstore.workspaces.reassign import name_conflicts

_MODES = {"restrict": "RESTRICT", "cascade": "CASCADE", "set-default": "SET_DEFAULT"}


def _provider(store_uri: str):
    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    return DynamoDBWorkspaceProvider(store_uri)


def _as_dict(w: Workspace) -> dict[str, Any]:
    return {
        "name": w.name,
        "description": w.description,
        "default_artifact_root": w.default_artifact_root,
        "trace_archival_location": w.trace_archival_location,
        "trace_archival_retention": w.trace_archival_retention,
    }


def _run(action: Callable[[], Any]) -> Any:
    """MLflow's errors as a one-line CLI error (exit code 1), not a traceback."""
    try:
        return action()
    except MlflowException as exc:
        raise click.ClickException(f"{exc.error_code}: {exc.message}") from None


def _show(workspaces: list[Workspace], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([_as_dict(w) for w in workspaces], indent=2))
        return
    rows = [("NAME", "DESCRIPTION", "ARTIFACT ROOT")] + [
        (w.name, w.description or "", w.default_artifact_root or "") for w in workspaces
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    for name, description, root in rows:
        click.echo(f"{name:<{widths[0]}}  {description:<{widths[1]}}  {root}".rstrip())


@click.group("workspace")
def workspace() -> None:
    """List, create, update and delete workspaces (as MLflow's workspace API does)."""


@workspace.command("list")
@click.argument("store_uri")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_workspaces(store_uri: str, as_json: bool) -> None:
    """List the workspaces of STORE_URI."""
    _show(list(_run(lambda: _provider(store_uri).list_workspaces())), as_json)


@workspace.command("create")
@click.argument("store_uri")
@click.argument("name")
@click.option("--description", help="What the workspace is for.")
@click.option("--default-artifact-root", help="Artifact root of its experiments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def create(
    store_uri: str,
    name: str,
    description: str | None,
    default_artifact_root: str | None,
    as_json: bool,
) -> None:
    """Create workspace NAME."""
    made = _run(
        lambda: _provider(store_uri).create_workspace(
            Workspace(
                name=name, description=description, default_artifact_root=default_artifact_root
            )
        )
    )
    _show([made], as_json)


@workspace.command("update")
@click.argument("store_uri")
@click.argument("name")
@click.option("--description", help="New description.")
@click.option("--default-artifact-root", help="New artifact root ('' clears it).")
@click.option("--trace-archival-location", help="Trace archival location ('' clears it).")
@click.option(
    "--trace-archival-retention", help="Trace archival retention, e.g. 30d ('' clears it)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def update(
    store_uri: str,
    name: str,
    description: str | None,
    default_artifact_root: str | None,
    trace_archival_location: str | None,
    trace_archival_retention: str | None,
    as_json: bool,
) -> None:
    """Update workspace NAME; options not given keep their value."""
    changes = Workspace(
        name=name,
        description=description,
        default_artifact_root=default_artifact_root,
        trace_archival_location=trace_archival_location,
        trace_archival_retention=trace_archival_retention,
    )
    if all(v is None for k, v in _as_dict(changes).items() if k != "name"):
        raise click.UsageError("Give at least one option to change.")
    _show([_run(lambda: _provider(store_uri).update_workspace(changes))], as_json)


@workspace.command("delete")
@click.argument("store_uri")
@click.argument("name")
@click.option(
    "--mode",
    type=click.Choice(list(_MODES)),
    default="restrict",
    show_default=True,
    help="restrict: refuse unless empty; cascade: delete everything in it; set-default: "
    "move everything to the default workspace.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (cascade, set-default).")
@click.option(
    "--dry-run", is_flag=True, help="Count what would be deleted or moved; change nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def delete(store_uri: str, name: str, mode: str, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Delete workspace NAME. Safe to interrupt: running the same command again resumes."""
    provider = _provider(store_uri)
    deletion_mode = WorkspaceDeletionMode(_MODES[mode])
    inventory = WorkspaceInventory.of(provider.gateway, name)
    if provider.workspaces.get_item(name) is None:
        raise click.ClickException(f"RESOURCE_DOES_NOT_EXIST: Workspace '{name}' not found")
    roots = inventory.summary()
    if dry_run:
        report: dict[str, Any] = {"workspace": name, "mode": mode, "dry_run": True, **roots}
        if deletion_mode == WorkspaceDeletionMode.SET_DEFAULT:
            target = WorkspaceInventory.of(provider.gateway, "default")
            report["name_conflicts"] = [list(c) for c in name_conflicts(inventory, target)]
        click.echo(json.dumps(report, indent=2) if as_json else _describe(report))
        return
    if deletion_mode != WorkspaceDeletionMode.RESTRICT and not yes:
        what = "delete" if mode == "cascade" else "move to 'default'"
        click.confirm(
            f"{what.capitalize()} everything in workspace '{name}' ({roots})?", abort=True
        )
    total = sum(roots.values())
    with click.progressbar(length=total, label=f"{mode} {name}", file=sys.stderr) as bar:
        result = _run(lambda: provider.delete_workspace(name, deletion_mode, progress=bar.update))
    summary = {"workspace": name, "mode": mode, "items": result.items, **roots}
    click.echo(json.dumps(summary, indent=2) if as_json else _describe(summary))


def _describe(report: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in report.items())
