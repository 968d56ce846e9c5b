"""Backfill of the trigram index (``fts/``) for entities written before it existed.

A resumable job with a record in the table (``CONFIG`` / ``JOB#FTS_BACKFILL``). It walks
the entity listings, never a Scan: every workspace (``default`` first, then by name); in
each, the experiments (both lifecycle stages, GSI1), the registered models (GSI1), and per
experiment its logged models (GSI4, every stage), its runs (GSI1) and its traces (GSI3:
their names into the experiment's name dictionary, backfills/trace_names.py; with
``trace_tag_value`` / ``trace_metadata_value`` configured, once more for their value
postings, with each trace's ttl); with
``model_version_tag_value`` configured, the workspace's model versions (GSI1). Each
listing page's postings are written with BatchWriteItem (puts of the same keys: idempotent,
safe beside live traffic, which writes its own postings), then the record saves the cursor (the unit
and the page's LastEvaluatedKey); a rerun resumes after the last saved page. When every
unit is done the fields are marked ready (searches start using the index) and the record
is deleted. Cost: the listings read once, 1 write unit per posting (one per distinct
trigram of a name), 1 PutItem of the record per page.

Opt-in fields (run tag / param values, experiment / model / model version tag values:
``OPT_IN_TRIGRAM_FIELDS``) are walked and marked ready only while configured in the stored
settings. Servers see a settings
change within ``MAX_REFRESH_SECONDS``; until then some still write without postings, so the
backfill first waits until that long after each such field was switched on (its ready
marker's ``changed_at``, written by ``ConfigItems.update`` however it was switched): no
entity written after the walk passed it lacks postings. A field switched again while the
backfill ran is not marked ready (the marker's ``changed_at`` moved): run it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.conditions import ConditionBase
from mlflow.entities import LifecycleStage
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.backfills import trace_names as trace_name_backfill
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.settings import (
    ALWAYS_TRIGRAM_FIELDS,
    OPT_IN_TRIGRAM_FIELDS,
    StoreSettings,
)
from mlflow_dynamodbstore.config.source import MAX_REFRESH_SECONDS
from mlflow_dynamodbstore.fts import field_postings, postings
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.gateway import TableGateway
from mlflow_dynamodbstore.repositories import experiment_tag_values
from mlflow_dynamodbstore.repositories.registry import model_tag_values, model_version_tag_values
from mlflow_dynamodbstore.repositories.runs.items import is_spilled
from mlflow_dynamodbstore.repositories.runs.value_postings import run_posting_keys
from mlflow_dynamodbstore.repositories.traces import value_postings as trace_value_postings
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.schema import fts_keys, indexes, keys

Item = dict[str, Any]
Progress = Callable[[int], None]  # called with the number of entities visited since last call
PAGE = 100  # entities per listing page (and per saved cursor)
# opt-in tag value fields of workspace-wide collections, walked with their listings
_WORKSPACE_TAG_FIELDS = (
    field_postings.EXPERIMENT_TAG_VALUE,
    field_postings.MODEL_TAG_VALUE,
    field_postings.MODEL_VERSION_TAG_VALUE,
)
SETTLE_MARGIN = 5.0  # seconds added to the servers' refresh interval (see wait_for_servers)
FIELDS = (
    postings.EXPERIMENT_NAME,
    postings.MODEL_NAME,
    postings.RUN_NAME,
    postings.LOGGED_MODEL_NAME,
    postings.TRACE_NAME,
)


@dataclass
class FtsBackfillReport:
    entities: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FIELDS, 0))
    postings: int = 0  # postings written (or, in a dry run, that would be)
    resumed: bool = False
    # opt-in fields switched again while the backfill ran: left unready (run it again)
    not_ready: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        report = {"entities": self.entities, "postings": self.postings, "resumed": self.resumed}
        return {**report, "not_ready": self.not_ready} if self.not_ready else report


@dataclass(frozen=True)
class _Unit:
    """One listing to walk: its identity (for the cursor), condition and documents."""

    name: str
    field: str
    condition: ConditionBase
    index: str
    document: Callable[[Item], tuple[postings.Document, str | None]] | None = None
    # the posting items of one listed entity, when not simply its document's keys
    items: Callable[[Item], list[Item]] | None = None
    # a page's own writes, when not posting puts (trace names); the items written
    visit: Callable[[list[Item]], int] | None = None
    # the base-table key of a listed entity whose postings carry its name
    # (postings.CARRYING_FIELDS): written conditioned on that name (``_write_carrying``)
    entity_key: Callable[[Item], Item] | None = None

    def postings_of(self, item: Item) -> list[Item]:
        if self.items is not None:
            return self.items(item)
        assert self.document is not None
        document, text = self.document(item)
        return document.keys(text)


def _workspaces(gateway: TableGateway) -> list[str]:
    names = sorted(w.name for w in WorkspaceRepository(gateway).list())
    return [DEFAULT_WORKSPACE_NAME] + [n for n in names if n != DEFAULT_WORKSPACE_NAME]


def _experiment_ids(gateway: TableGateway, workspace: str) -> list[str]:
    listing = indexes.EXPERIMENTS_BY_CREATION
    ids = []
    for stage in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        for item in gateway.query(
            listing.pk_eq(keys.experiments_gsi1pk(workspace, stage)), index=listing.index
        ):
            ids.append(str(item["experiment_id"]))
    return ids


def _units(
    gateway: TableGateway,
    workspace: str,
    trace_names: trace_name_backfill.TraceNameBackfill | None,
    value_fields: tuple[str, ...] = (),
    opt_in: tuple[str, ...] = (),
) -> Iterator[_Unit]:
    scope = fts_keys.WORKSPACE_SCOPE
    trace_fields = trace_value_postings.configured(opt_in)
    exp_listing = indexes.EXPERIMENTS_BY_CREATION
    for stage in (LifecycleStage.ACTIVE, LifecycleStage.DELETED):
        if field_postings.EXPERIMENT_TAG_VALUE in opt_in:
            yield _Unit(
                f"{workspace}/experiment-tags/{stage}",
                field_postings.EXPERIMENT_TAG_VALUE,
                exp_listing.pk_eq(keys.experiments_gsi1pk(workspace, stage)),
                exp_listing.index,
                items=lambda item: experiment_tag_values.tag_posting_keys(
                    workspace, str(item["experiment_id"]), item.get("tags") or {}
                ),
            )
        yield _Unit(
            f"{workspace}/experiments/{stage}",
            postings.EXPERIMENT_NAME,
            exp_listing.pk_eq(keys.experiments_gsi1pk(workspace, stage)),
            exp_listing.index,
            lambda item: (
                postings.Document(
                    workspace, postings.EXPERIMENT_NAME, scope, str(item["experiment_id"])
                ),
                item.get("name"),
            ),
            entity_key=lambda item: keys.experiment_key(str(item["experiment_id"])),
        )
    model_listing = indexes.REGISTERED_MODELS_BY_NAME
    yield _Unit(
        f"{workspace}/models",
        postings.MODEL_NAME,
        model_listing.pk_eq(keys.registered_models_gsi1pk(workspace)),
        model_listing.index,
        lambda item: (
            postings.Document(workspace, postings.MODEL_NAME, scope, item["model_id"]),
            item.get("name"),
        ),
        entity_key=lambda item: keys.registered_model_key(item["model_id"]),
    )
    if field_postings.MODEL_TAG_VALUE in opt_in:
        yield _Unit(
            f"{workspace}/model-tags",
            field_postings.MODEL_TAG_VALUE,
            model_listing.pk_eq(keys.registered_models_gsi1pk(workspace)),
            model_listing.index,
            items=lambda item: model_tag_values.tag_posting_keys(
                workspace, item["model_id"], item.get("tags") or {}
            ),
        )
    if field_postings.MODEL_VERSION_TAG_VALUE in opt_in:
        # every version of the workspace (deleted ones have no postings)
        version_listing = indexes.MODEL_VERSIONS_BY_WORKSPACE
        yield _Unit(
            f"{workspace}/model-version-tags",
            field_postings.MODEL_VERSION_TAG_VALUE,
            version_listing.pk_eq(keys.model_versions_gsi1pk(workspace)),
            version_listing.index,
            items=lambda item: model_version_tag_values.item_posting_keys(item, workspace),
        )
    run_listing = indexes.RUNS_BY_START_TIME
    trace_listing = indexes.TRACES_BY_TIMESTAMP
    model_listing_lm = indexes.LOGGED_MODELS_BY_EXPERIMENT
    for experiment_id in _experiment_ids(gateway, workspace):
        yield _Unit(
            f"{workspace}/logged-models/{experiment_id}",
            postings.LOGGED_MODEL_NAME,
            model_listing_lm.pk_eq(keys.logged_models_gsi4pk(experiment_id)),
            model_listing_lm.index,
            lambda item, exp=experiment_id: (
                postings.Document(workspace, postings.LOGGED_MODEL_NAME, exp, item["model_id"]),
                item.get("name"),
            ),
        )
        yield _Unit(
            f"{workspace}/runs/{experiment_id}",
            postings.RUN_NAME,
            run_listing.pk_eq(keys.runs_gsi1pk(experiment_id)),
            run_listing.index,
            lambda item, exp=experiment_id: (
                postings.Document(workspace, postings.RUN_NAME, exp, item["run_id"]),
                _run_name(gateway, item),
            ),
        )
        if value_fields:
            yield _Unit(
                f"{workspace}/run-values/{experiment_id}",
                "+".join(value_fields),
                run_listing.pk_eq(keys.runs_gsi1pk(experiment_id)),
                run_listing.index,
                items=lambda item: run_posting_keys(
                    item, lambda want: gateway.batch_get(want, consistent=True), value_fields
                ),
            )
        if trace_fields:
            # trace tag / metadata values, with each trace's ttl (GSI3 projects META whole)
            yield _Unit(
                f"{workspace}/trace-values/{experiment_id}",
                "+".join(trace_fields),
                trace_listing.pk_eq(keys.traces_gsi3pk(experiment_id)),
                trace_listing.index,
                items=lambda item: trace_value_postings.posting_items(item, trace_fields),
            )
        if trace_names is None:
            continue
        yield _Unit(
            f"{workspace}/traces/{experiment_id}",
            postings.TRACE_NAME,
            trace_listing.pk_eq(keys.traces_gsi3pk(experiment_id)),
            trace_listing.index,
            items=lambda _item: [],
            visit=trace_names.page,
        )


def _run_name(gateway: TableGateway, meta: Item) -> str | None:
    value = (meta.get("tags") or {}).get(MLFLOW_RUN_NAME)
    if is_spilled(value):
        spilled = gateway.get_item(keys.run_tag_key(meta["run_id"], MLFLOW_RUN_NAME))
        value = spilled.get("value") if spilled else None
    return value if isinstance(value, str) else None


def configured_opt_in(gateway: TableGateway) -> tuple[str, ...]:
    """The opt-in fields of the table's stored settings (one GetItem)."""
    unscoped = getattr(gateway, "unscoped", gateway)
    stored = ConfigItems(unscoped).load() or StoreSettings()
    return tuple(f for f in OPT_IN_TRIGRAM_FIELDS if stored.indexes_trigrams(f))


def _switched_at(marker: Item) -> float | None:
    """When the field was last switched (``configured_at``: markers of the earlier ``fts
    add``); None when the marker records no switch (the field was configured before
    switches were recorded, so every server has long written its postings)."""
    when = marker.get("changed_at", marker.get("configured_at"))
    return None if when is None else float(when)


def _markers(gateway: TableGateway, fields: tuple[str, ...]) -> dict[str, Item]:
    return {name: gateway.get_item(fts_keys.ready_key(name)) or {} for name in fields}


def seconds_to_settle(
    markers: dict[str, Item], settle_seconds: float, now: float | None = None
) -> float:
    """How long until ``settle_seconds`` have passed since the last switch of every field
    not yet ready. The marker is written just before the settings item (and clocks differ
    a little): ``SETTLE_MARGIN`` more."""
    now = time.time() if now is None else now
    margin = SETTLE_MARGIN if settle_seconds else 0.0
    left = 0.0
    for marker in markers.values():
        when = _switched_at(marker)
        if marker.get("complete") or when is None:
            continue
        left = max(left, when + settle_seconds + margin - now)
    return left


def settle_left(
    gateway: TableGateway, settle_seconds: float = MAX_REFRESH_SECONDS
) -> tuple[float, tuple[str, ...]]:
    """Seconds the backfill will wait (``seconds_to_settle``) and the configured opt-in
    fields, for the CLI to say so before it starts."""
    fields = configured_opt_in(gateway)
    return seconds_to_settle(_markers(gateway, fields), settle_seconds), fields


def wait_for_servers(
    gateway: TableGateway,
    settle_seconds: float = MAX_REFRESH_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    fields: tuple[str, ...] | None = None,
) -> float:
    """Sleep until ``settle_seconds`` after the configured opt-in ``fields`` (default: all
    of them) were last switched on or off (every server writes their postings by then);
    the seconds slept."""
    names = configured_opt_in(gateway) if fields is None else fields
    left = seconds_to_settle(_markers(gateway, names), settle_seconds)
    if left > 0:
        sleep(left)
    return max(left, 0.0)


def backfill_fts(
    gateway: TableGateway,
    progress: Progress | None = None,
    *,
    dry_run: bool = False,
    settle_seconds: float = MAX_REFRESH_SECONDS,
    value_fields: tuple[str, ...] | None = None,
) -> FtsBackfillReport:
    """Run (or resume) the backfill; ``gateway`` is unscoped. ``dry_run`` only counts (and
    neither reads nor moves the cursor). ``settle_seconds``: see ``wait_for_servers``.
    ``value_fields``: the run tag / param value fields to build (default: those
    configured), their postings for every run, then marked ready."""
    opt_in = configured_opt_in(gateway)
    drop_legacy = trace_name_backfill.had_trace_postings(gateway)
    trace_names = trace_name_backfill.TraceNameBackfill(gateway, drop_legacy)
    if value_fields is None:
        value_fields = field_postings.configured(opt_in)
    built_opt_in = (
        *value_fields,
        *(f for f in opt_in if f in _WORKSPACE_TAG_FIELDS),
        *trace_value_postings.configured(opt_in),
    )
    seen: dict[str, Item] = {}
    if not dry_run:
        seen = _markers(gateway, built_opt_in)
        left = seconds_to_settle(seen, settle_seconds)
        if left > 0:
            time.sleep(left)
    progress = progress or (lambda _n: None)
    record_key = fts_keys.backfill_record_key()
    cursor = {} if dry_run else (gateway.get_item(record_key) or {})
    report = FtsBackfillReport(resumed=bool(cursor))
    skipping = bool(cursor)
    for workspace in _workspaces(gateway):
        for unit in _units(gateway, workspace, trace_names, value_fields, opt_in):
            start_key = None
            if skipping:
                if unit.name != cursor.get("unit"):
                    continue
                skipping = False
                if cursor.get("finished"):
                    continue
                start_key = cursor.get("after")
            _walk(gateway, unit, start_key, report, progress, dry_run, record_key)
    if skipping:
        # the saved unit is gone (its workspace or experiment was deleted): start over
        gateway.delete_item(record_key)
        return backfill_fts(
            gateway,
            progress,
            dry_run=dry_run,
            settle_seconds=settle_seconds,
            value_fields=value_fields,
        )
    if not dry_run:
        for name in FIELDS:
            if name in ALWAYS_TRIGRAM_FIELDS:
                READINESS.mark(gateway, name, True)
        if drop_legacy:
            trace_name_backfill.forget_trace_postings(gateway)
        for name in built_opt_in:
            # not when switched again meanwhile: its postings may lack that switch's writes
            if not READINESS.mark_ready_unless_switched(
                gateway, name, seen.get(name, {}).get("changed_at")
            ):
                report.not_ready.append(name)
        gateway.delete_item(record_key)
    return report


def _carrying(unit: _Unit, items: list[Item]) -> list[Item]:
    """The listed entities whose postings carry their name."""
    assert unit.document is not None
    return [item for item in items if postings.carries(unit.field, unit.document(item)[1])]


def _write_carrying(gateway: TableGateway, unit: _Unit, item: Item) -> int:
    """One entity's postings carrying its name, conditioned on the name the listing gave
    (a rename meanwhile wrote its own carrying postings; a listing that lags is read again:
    the current name's postings are then written bare, which is always safe). The postings
    written."""
    assert unit.document is not None and unit.entity_key is not None
    document, text = unit.document(item)
    assert text is not None
    if postings.write_carrying(gateway, unit.entity_key(item), document, text):
        return len(document.keys(text))
    current = gateway.get_item(unit.entity_key(item), consistent=True)
    if current is None:
        return 0  # deleted meanwhile: its postings went with it
    bare = document.keys(current.get("name"))
    gateway.batch_write(puts=bare)
    return len(bare)


def _walk(
    gateway: TableGateway,
    unit: _Unit,
    start_key: Item | None,
    report: FtsBackfillReport,
    progress: Progress,
    dry_run: bool,
    record_key: Item,
) -> None:
    while True:
        items, start_key = gateway.query_page(
            unit.condition, index=unit.index, limit=PAGE, start_key=start_key
        )
        carrying = [] if dry_run or unit.entity_key is None else _carrying(unit, items)
        carried = {id(item) for item in carrying}
        puts = [
            posting
            for item in items
            if id(item) not in carried
            for posting in unit.postings_of(item)
        ]
        report.entities[unit.field] = report.entities.get(unit.field, 0) + len(items)
        report.postings += len(puts)
        if not dry_run:
            gateway.batch_write(puts=puts)
            report.postings += sum(_write_carrying(gateway, unit, item) for item in carrying)
            if unit.visit is not None:
                report.postings += unit.visit(items)
            record = {**record_key, "unit": unit.name, "finished": start_key is None}
            if start_key is not None:
                record["after"] = start_key
            gateway.put_item(record)
        progress(len(items))
        if start_key is None:
            return
