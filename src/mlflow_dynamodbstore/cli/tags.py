"""``tags list|add|remove|backfill``: the tag index's globs and its backfill
(docs/tag-index.md)."""

from __future__ import annotations

import itertools
import json
import sys
from dataclasses import replace
from typing import Any

import click

from mlflow_dynamodbstore.backfills.tag_index import backfill_tag_index
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.settings import ALWAYS_DENORMALIZED_TAGS, StoreSettings
from mlflow_dynamodbstore.repositories.tag_index import TABLE_SCOPE, TagIndexState


def _connect(store_uri: str):
    from mlflow_dynamodbstore.stores.connection import connect

    return connect(store_uri)


def _settings(conn) -> StoreSettings:
    """The connection's settings with the table's stored globs (the same thing once the
    settings are table-backed; until then this also sees a change made by `tags add`)."""
    current = conn.settings.current()
    stored = ConfigItems(conn.gateway).load()
    if stored is None:
        return current
    own = dict(current.experiment_denormalize_tags)
    for exp, globs in stored.experiment_denormalize_tags:
        own[exp] = tuple(dict.fromkeys((*own.get(exp, ()), *globs)))
    return replace(
        current,
        denormalize_tags=tuple(
            dict.fromkeys((*current.denormalize_tags, *stored.denormalize_tags))
        ),
        experiment_denormalize_tags=tuple(sorted(own.items())),
    )


def _rows(settings: StoreSettings, ready: dict[str, list[str]]) -> list[dict[str, Any]]:
    rows = [
        {"scope": "table", "glob": g, "complete": g in ready.get(TABLE_SCOPE, [])}
        for g in settings.denormalize_tags
    ]
    for exp, globs in settings.experiment_denormalize_tags:
        rows += [
            {"scope": f"experiment {exp}", "glob": g, "complete": g in ready.get(exp, [])}
            for g in globs
        ]
    return rows


def _show(rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = [("SCOPE", "GLOB", "COMPLETE")] + [
        (r["scope"], r["glob"], "yes" if r["complete"] else "no (run tags backfill)") for r in rows
    ]
    widths = [max(len(r[i]) for r in table) for i in range(2)]
    for scope, glob, complete in table:
        click.echo(f"{scope:<{widths[0]}}  {glob:<{widths[1]}}  {complete}")


@click.group("tags")
def tags() -> None:
    """The tag index: which tag keys get index entries (globs), and their backfill."""


_EXPERIMENT = click.option(
    "--experiment-id", default=None, help="Change one experiment's globs, not the table's."
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


@tags.command("list")
@click.argument("store_uri")
@_JSON
def list_globs(store_uri: str, as_json: bool) -> None:
    """Show the indexed tag globs of STORE_URI (table-wide and per experiment) and whether
    the search uses them yet (complete = backfilled)."""
    conn = _connect(store_uri)
    _show(_rows(_settings(conn), TagIndexState(conn.gateway).load()), as_json)


def _change(conn, experiment_id: str | None, edit) -> StoreSettings:
    def change(settings: StoreSettings) -> StoreSettings:
        if experiment_id is None:
            return replace(settings, denormalize_tags=edit(settings.denormalize_tags))
        own = dict(settings.experiment_denormalize_tags)
        own[experiment_id] = edit(own.get(experiment_id, ()))
        return replace(
            settings,
            experiment_denormalize_tags=tuple(sorted((e, g) for e, g in own.items() if g)),
        )

    return ConfigItems(conn.gateway).update(change, initial=conn.settings.current())


@tags.command("add")
@click.argument("store_uri")
@click.argument("glob")
@_EXPERIMENT
@_JSON
def add(store_uri: str, glob: str, experiment_id: str | None, as_json: bool) -> None:
    """Index the tags whose keys match GLOB (fnmatch, e.g. 'team.*'). Writes maintain the
    entries from now on; run `tags backfill` (after the servers saw the change: up to 60 s)
    so runs and experiments written before get theirs and the search starts using GLOB."""
    if not glob.strip():
        raise click.BadParameter("a glob must not be empty", param_hint="GLOB")
    conn = _connect(store_uri)
    _change(conn, experiment_id, lambda globs: tuple(dict.fromkeys((*globs, glob))))
    _show(_rows(_settings(conn), TagIndexState(conn.gateway).load()), as_json)


@tags.command("remove")
@click.argument("store_uri")
@click.argument("glob")
@_EXPERIMENT
@_JSON
def remove(store_uri: str, glob: str, experiment_id: str | None, as_json: bool) -> None:
    """Stop indexing GLOB: the search stops using it at once; existing entries stay (they
    are only candidates, always checked against the run)."""
    if glob in ALWAYS_DENORMALIZED_TAGS:
        raise click.ClickException(f"'{glob}' is always indexed and cannot be removed")
    conn = _connect(store_uri)
    settings = _settings(conn)
    present = (
        settings.denormalize_tags
        if experiment_id is None
        else dict(settings.experiment_denormalize_tags).get(experiment_id, ())
    )
    if glob not in present:
        raise click.ClickException(f"'{glob}' is not an indexed glob of this scope")
    TagIndexState(conn.gateway).unmark(experiment_id or TABLE_SCOPE, [glob])
    _change(conn, experiment_id, lambda globs: tuple(g for g in globs if g != glob))
    _show(_rows(_settings(conn), TagIndexState(conn.gateway).load()), as_json)


@tags.command("backfill")
@click.argument("store_uri")
@_EXPERIMENT
@click.option("--dry-run", is_flag=True, help="Count runs, experiments and entries; write nothing.")
@click.option(
    "--rewrite",
    is_flag=True,
    help="Overwrite existing entries too (after a glob was removed and added again; "
    "run it while nobody writes tags).",
)
@_JSON
def backfill(
    store_uri: str, experiment_id: str | None, dry_run: bool, rewrite: bool, as_json: bool
) -> None:
    """Write the tag index entries of existing runs and experiments of STORE_URI (or of one
    experiment's runs), then mark the globs complete. Resumable: an interrupted run
    continues where it stopped; idempotent. Reads listings only, never a Scan."""
    conn = _connect(store_uri)
    settings = _settings(conn)
    # progress on stderr, so --json output stays parseable; length unknown: runs counted
    with click.progressbar(
        itertools.repeat(None), label="runs", show_pos=True, file=sys.stderr
    ) as bar:

        def progress(n: int) -> None:
            bar.update(n)

        report = backfill_tag_index(
            conn.gateway,
            settings,
            experiment_id=experiment_id,
            dry_run=dry_run,
            rewrite=rewrite,
            progress=progress,
        )
    result = {
        "dry_run": dry_run,
        "resumed": report.resumed,
        "experiments": report.experiments,
        "runs": report.runs,
        "entries": report.entries,
        "complete": report.marked,
    }
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    verb = "would be considered" if dry_run else "written"
    click.echo(
        f"{report.experiments} experiments, {report.runs} runs visited; "
        f"{report.entries} entries {verb}" + (" (resumed)" if report.resumed else "")
    )
    for scope, globs in report.marked.items():
        click.echo(f"complete: {scope}: {', '.join(globs)}")
