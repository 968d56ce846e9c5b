"""``fts list|add|remove|backfill``: the trigram full-text index's fields and its backfill
(docs/full-text-search.md)."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace

import click

from mlflow_dynamodbstore.backfills.fts import (
    SETTLE_MARGIN,
    backfill_fts,
    settle_left,
)
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.settings import (
    ALWAYS_TRIGRAM_FIELDS,
    BUILT_TRIGRAM_FIELDS,
    OPT_IN_TRIGRAM_FIELDS,
    unbuilt_trigram_fields,
)
from mlflow_dynamodbstore.config.source import MAX_REFRESH_SECONDS
from mlflow_dynamodbstore.fts import field_postings
from mlflow_dynamodbstore.fts.lookup import READINESS

_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_NOT_BUILT = "not built by this version: nothing indexes it, no search uses it"


def _connect(store_uri: str):
    from mlflow_dynamodbstore.stores.connection import connect

    return connect(store_uri, shared=False)


def _rows(conn) -> list[dict]:
    stored = ConfigItems(conn.gateway).load()
    fields = (stored or conn.settings.current()).fts_trigram_fields
    rows = []
    for name in dict.fromkeys((*ALWAYS_TRIGRAM_FIELDS, *fields)):
        built = name in BUILT_TRIGRAM_FIELDS
        row = {
            "field": name,
            "always_on": name in ALWAYS_TRIGRAM_FIELDS,
            "maintained": built,
            "ready": built and READINESS.is_ready(conn.gateway, name),
        }
        if not built:
            row["note"] = _NOT_BUILT
        rows.append(row)
    return rows


def _show(rows: list[dict], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'FIELD':<20}  {'ALWAYS ON':<9}  {'INDEXED':<7}  READY")
    for r in rows:
        indexed = "yes" if r["maintained"] else "no"
        ready = "yes" if r["ready"] else "no (run fts backfill)"
        if not r["maintained"]:
            ready = "- (not built by this version: no effect)"
        always = "yes" if r["always_on"] else "no"
        click.echo(f"{r['field']:<20}  {always:<9}  {indexed:<7}  {ready}")


@click.group("fts")
def fts() -> None:
    """The trigram full-text index behind name LIKE / ILIKE searches."""


@fts.command("list")
@click.argument("store_uri")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_fields(store_uri: str, as_json: bool) -> None:
    """The indexed fields of STORE_URI: configured, maintained by this version, complete."""
    _show(_rows(_connect(store_uri)), as_json)


def _change(store_uri: str, change, dry_run: bool, as_json: bool) -> None:
    conn = _connect(store_uri)
    items = ConfigItems(conn.gateway)
    current = items.load() or conn.settings.current()
    if dry_run:
        after = change(current)
        click.echo(json.dumps(list(after.fts_trigram_fields)) if as_json else
                   "would set: " + ", ".join(after.fts_trigram_fields))  # fmt: skip
        return
    # the update marks each opt-in field switched on or off unready (config/items.py)
    items.update(change, initial=conn.settings.current())
    READINESS.forget()
    field_postings.forget_table_fields()
    _show(_rows(conn), as_json)


@fts.command("add")
@click.argument("store_uri")
@click.argument("fields", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Print the resulting fields, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def add(store_uri: str, fields: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Add FIELDS to the table's fts_trigram_fields (every server sees the change within
    the settings refresh). The opt-in fields this version builds (tag and param
    values; `fts list`) are marked not ready: servers write their postings from their next
    refresh on, and searches use them once `fts backfill` has run. Other names are stored
    but have no effect."""
    for name in fields:
        if not _FIELD_NAME.match(name):
            raise click.BadParameter(f"{name!r} is not a field name (lower case, digits, _)")
    for name in unbuilt_trigram_fields(fields):
        click.echo(f"warning: {name} is {_NOT_BUILT} (stored for a later version)", err=True)

    def change(settings):
        merged = tuple(dict.fromkeys((*settings.fts_trigram_fields, *fields)))
        return replace(settings, fts_trigram_fields=merged)

    if not dry_run:
        conn = _connect(store_uri)
        before = (ConfigItems(conn.gateway).load() or conn.settings.current()).fts_trigram_fields
        for name in (f for f in fields if f in OPT_IN_TRIGRAM_FIELDS and f not in before):
            click.echo(
                f"note: {name} is searched through the index once `fts backfill` has built "
                f"it (the backfill first waits {MAX_REFRESH_SECONDS + SETTLE_MARGIN:g} s "
                "after this change for every server to see it); servers write its postings "
                "from their next settings refresh on",
                err=True,
            )
    _change(store_uri, change, dry_run, as_json)


@fts.command("remove")
@click.argument("store_uri")
@click.argument("fields", nargs=-1, required=True)
@click.option("--dry-run", is_flag=True, help="Print the resulting fields, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def remove(store_uri: str, fields: tuple[str, ...], dry_run: bool, as_json: bool) -> None:
    """Remove FIELDS from the table's fts_trigram_fields. The name fields are always on. An
    opt-in field is marked not ready (searches stop using it); its postings are left in
    place (they cost storage only; a later add + backfill rewrites them)."""
    fixed = [f for f in fields if f in ALWAYS_TRIGRAM_FIELDS]
    if fixed:
        raise click.UsageError(
            f"{', '.join(fixed)} cannot be removed: names are always indexed "
            f"({', '.join(ALWAYS_TRIGRAM_FIELDS)})"
        )

    def change(settings):
        kept = tuple(f for f in settings.fts_trigram_fields if f not in fields)
        return replace(settings, fts_trigram_fields=kept)

    _change(store_uri, change, dry_run, as_json)


@fts.command("backfill")
@click.argument("store_uri")
@click.option("--dry-run", is_flag=True, help="Count entities and postings, write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--settle-seconds",
    type=float,
    default=MAX_REFRESH_SECONDS,
    show_default=True,
    help="Wait this long after an opt-in field was switched on (every server must write "
    "its postings before the backfill passes the entities).",
)
def backfill(store_uri: str, dry_run: bool, as_json: bool, settle_seconds: float) -> None:
    """Write the postings of every experiment, run, registered and logged model name of
    STORE_URI (entities written before the index existed), and of each configured opt-in
    field (trace names, tag and param values), then mark the fields ready. Resumable: an
    interrupted run continues after its last saved page when run again; idempotent."""
    conn = _connect(store_uri)
    if not dry_run:
        left, switched = settle_left(conn.gateway, settle_seconds)
        if left > 0:
            click.echo(
                f"waiting {left:.0f} s for every server to see the switch of {', '.join(switched)}",
                err=True,
            )
    # the total is unknown until the listings are walked: the bar counts entities
    with click.progressbar(length=0, label="entities", show_pos=True, file=sys.stderr) as bar:
        report = backfill_fts(
            conn.gateway, bar.update, dry_run=dry_run, settle_seconds=settle_seconds
        )
    for name in report.not_ready:
        click.echo(f"{name} was switched again meanwhile: not ready, run it again", err=True)
    if as_json:
        click.echo(json.dumps({**report.as_dict(), "dry_run": dry_run}, indent=2))
        return
    verb = "would write" if dry_run else "wrote"
    counts = ", ".join(f"{n} {f}" for f, n in report.entities.items())
    click.echo(f"{counts}; {verb} {report.postings} postings")
