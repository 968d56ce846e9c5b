"""SET_DEFAULT: move every item a workspace owns into the default workspace.

Names are unique per workspace, so first the names the moved roots would take in
``default`` are checked, all of them, as MLflow's SQL workspace store does (one error listing
every conflict). Then each root moves: its children first (runs, traces, logged models of an
experiment; versions of a model), then the root itself in one transaction with its name
guard (old guard deleted, new one put ``attribute_not_exists``), so a name taken meanwhile
still fails cleanly. An item that has moved belongs to ``default`` and is no longer listed
under the old workspace: running the job again after a crash picks up exactly what is left.
Each moved item's ``version``/``rev`` is bumped so a writer holding the old copy re-reads
instead of writing it back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import replace
from itertools import chain

from boto3.dynamodb.conditions import Attr
from mlflow.entities import LifecycleStage
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

from mlflow_dynamodbstore.fts import field_postings, postings
from mlflow_dynamodbstore.gateway import ConditionFailed, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories import experiment_tag_values
from mlflow_dynamodbstore.repositories.experiments import (
    name_document as experiment_name_document,
)
from mlflow_dynamodbstore.repositories.logged_models.repository import (
    name_document as logged_model_name_document,
)
from mlflow_dynamodbstore.repositories.registry import model_tag_values, model_version_tag_values
from mlflow_dynamodbstore.repositories.registry.registered_models import (
    name_document as model_name_document,
)
from mlflow_dynamodbstore.repositories.runs.changes import (
    name_document as run_name_document,
)
from mlflow_dynamodbstore.repositories.runs.changes import stored_run_name
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG
from mlflow_dynamodbstore.repositories.runs.step_gate import close_gate
from mlflow_dynamodbstore.repositories.runs.value_postings import run_posting_keys
from mlflow_dynamodbstore.repositories.traces.cost_rollups import experiment_cost_cell_keys
from mlflow_dynamodbstore.repositories.traces.rollups import experiment_cell_keys
from mlflow_dynamodbstore.repositories.traces.sessions import trace_session_keys
from mlflow_dynamodbstore.repositories.traces.view_rollups import experiment_view_cell_keys
from mlflow_dynamodbstore.schema import (
    analytics_keys,
    dataset_keys,
    gateway_cost_keys,
    indexes,
    job_keys,
    keys,
    registry_order_keys,
    scorer_keys,
    tag_index_keys,
)
from mlflow_dynamodbstore.workspaces import ai_gateway, labeling, mcp_servers
from mlflow_dynamodbstore.workspaces.inventory import Item, WorkspaceInventory

Progress = Callable[[int], None]  # called once per root moved, as in cascade.py
TARGET = DEFAULT_WORKSPACE_NAME
# Items of a dataset partition rewritten per round (4 BatchWriteItem; at most ~40 MB held
# when they are all parts of big records).
_MOVE_BATCH = 100


class NameConflicts(Exception):
    """Names the moved resources would share with resources of the default workspace."""

    def __init__(self, conflicts: list[tuple[str, str]]):
        super().__init__(conflicts)
        self.conflicts = conflicts  # (SQL table name, resource name), in SQL's table order


def name_conflicts(source: WorkspaceInventory, target: WorkspaceInventory) -> list[tuple[str, str]]:
    """(table, name) of every root whose name ``target`` already has, in the SQL store's
    table order (registered models, experiments, evaluation datasets, webhooks, then the AI
    gateway's endpoints, model definitions and guardrails: ``ai_gateway.py``; MCP servers:
    ``mcp_servers.py``). Models and
    experiments are checked against the target's name guards (one BatchGetItem per 100
    names), evaluation datasets and webhooks (whose names need not be unique, but the SQL
    store's preflight compares every named table) against the target's listings."""
    gateway = source.gateway.unscoped
    conflicts: list[tuple[str, str]] = []

    def taken(names: list[str], guard: Callable[[str, str], Item]) -> set[str]:
        found = gateway.batch_get([guard(TARGET, n) for n in names], consistent=True)
        return {i["SK"].split(keys.SEP, 1)[1] for i in found}

    model_names = [m["name"] for m in source.registered_models()]
    clash = taken(model_names, keys.registered_model_name_key)
    conflicts += [("registered_models", n) for n in model_names if n in clash]
    experiments = sorted(source.experiments(), key=lambda e: int(e["experiment_id"]))
    experiment_names = [e["name"] for e in experiments]
    clash = taken(experiment_names, keys.experiment_name_key)
    conflicts += [("experiments", n) for n in experiment_names if n in clash]
    target_datasets = {d["name"] for d in target.evaluation_datasets()}
    datasets = sorted(source.evaluation_datasets(), key=lambda d: d["dataset_id"])
    conflicts += [
        ("evaluation_datasets", d["name"]) for d in datasets if d["name"] in target_datasets
    ]
    target_hooks = {w["name"] for w in target.webhooks()}
    hooks = sorted(source.webhooks(), key=lambda w: int(w["creation_timestamp"]))
    conflicts += [("webhooks", w["name"]) for w in hooks if w["name"] in target_hooks]
    conflicts += ai_gateway.name_conflicts(source, target)
    return conflicts + mcp_servers.name_conflicts(source, target)


class Reassign:
    def __init__(self, inventory: WorkspaceInventory, progress: Progress | None = None):
        self.inventory = inventory
        self.gateway = inventory.gateway  # scoped to the source: only its items move
        self.progress = progress or (lambda _n: None)
        self.moved = 0
        self._value_fields: tuple[str, ...] | None = None

    def _done(self) -> None:
        self.moved += 1

    def _move(self, key: Item, fields: Item, bump: str | None = "version") -> None:
        """SET the fields (the new workspace and index keys) on one item of the source,
        bumping its optimistic-lock counter; an item gone meanwhile is skipped."""
        expression, names, values = _moved(fields, bump)
        try:
            self.gateway.update_item(
                key, expression, names=names, values=values, condition=Attr("PK").exists()
            )
        except ConditionFailed:
            return
        self._done()

    def _move_root(
        self, table: str, key: Item, fields: Item, guard: tuple[Item, Item], bump: str
    ) -> None:
        """The root and its name guard in one transaction: META moves, the old guard goes,
        the new guard is put unless the name is taken in the target."""
        old_guard, new_guard = guard
        expression, names, values = _moved(fields, bump)
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_update(
                        key, expression, names=names, values=values, condition=Attr("PK").exists()
                    ),
                    self.gateway.tx_delete(old_guard),
                    self.gateway.tx_put(new_guard, Attr("PK").not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            if 2 in exc.failed_conditions():
                raise NameConflicts([(table, new_guard["SK"].split(keys.SEP, 1)[1])]) from None
            if 0 in exc.failed_conditions():
                return  # gone meanwhile
            raise
        self._done()

    def _trace_key_after_stats(self, meta: Item) -> Item:
        """Move a trace's stats item (trace analytics; absent for traces logged before it),
        and gateway cost item (gateway traces only) ahead of its META, which
        lists them for a rerun; the META key is then moved by the caller."""
        trace_id = meta["trace_id"]
        expression, names, values = _moved({}, "version")
        for key in (
            analytics_keys.trace_stats_key(trace_id),
            gateway_cost_keys.gateway_cost_key(trace_id),
            *trace_session_keys(meta),  # its session's member and head
        ):
            with suppress(ConditionFailed):
                self.gateway.update_item(
                    key,
                    expression,
                    names=names,
                    values=values,
                    condition=Attr("PK").exists(),
                )
        return keys.trace_key(trace_id)

    def _move_postings(self, document: postings.Document, text: str | None) -> None:
        """The trigram postings of a moved name, from the source's keys to the target's
        (before the entity moves: a rerun after a crash writes them again, idempotently)."""
        target = replace(document, workspace=TARGET)
        self.gateway.batch_write(puts=target.keys(text), deletes=document.keys(text))

    def _run_key_after_postings(self, meta: Item) -> Item:
        fetch = lambda want: self.gateway.batch_get(want, consistent=True)  # noqa: E731
        name = stored_run_name(meta, fetch)
        self._move_postings(run_name_document(meta), name)
        if self._value_fields is None:
            self._value_fields = field_postings.table_value_fields(self.gateway)
        before = run_posting_keys(meta, fetch, self._value_fields)
        if before:
            after = run_posting_keys({**meta, "workspace": TARGET}, fetch, self._value_fields)
            self.gateway.batch_write(puts=after, deletes=before)
        return keys.run_key(meta["run_id"])

    def _logged_model_key_after_postings(self, meta: Item) -> Item:
        self._move_postings(logged_model_name_document(meta), meta.get("name"))
        return keys.logged_model_key(meta["model_id"])

    # ---- per root ------------------------------------------------------------------
    def experiment(self, meta: Item) -> None:
        experiment_id = str(meta["experiment_id"])
        inventory = self.inventory
        # The trace rollup cells first: a rerun finds the rest by the traces still here.
        for key in experiment_cell_keys(self.gateway, experiment_id):
            self._move(key, {}, bump=None)
        for key in experiment_view_cell_keys(self.gateway, experiment_id):  # SPANS/ASSESSMENTS
            self._move(key, {}, bump=None)
        for key in experiment_cost_cell_keys(self.gateway, experiment_id):  # span costs
            self._move(key, {}, bump=None)
        children = chain(
            (k for r in inventory.runs(experiment_id) for k in self._run_and_entries(r)),
            (self._trace_key_after_stats(t) for t in inventory.traces(experiment_id)),
            (
                self._logged_model_key_after_postings(m)
                for m in inventory.logged_models(experiment_id)
            ),
        )
        for key in children:
            self._move(key, {})
            self.progress(1)
        labeling.reassign_experiment(self, experiment_id, TARGET)
        self._scorers(experiment_id)
        self._move_tag_entries(keys.experiment_pk(experiment_id), workspace_keyed=True)
        name, stage = meta["name"], meta.get("lifecycle_stage", LifecycleStage.ACTIVE)
        self._move_postings(experiment_name_document(self.inventory.workspace, experiment_id), name)
        if field_postings.table_indexes(self.gateway, field_postings.EXPERIMENT_TAG_VALUE):
            tags = meta.get("tags") or {}
            before = experiment_tag_values.tag_posting_keys(
                self.inventory.workspace, experiment_id, tags
            )
            after = experiment_tag_values.tag_posting_keys(TARGET, experiment_id, tags)
            self.gateway.batch_write(puts=after, deletes=before)
        listing = indexes.EXPERIMENTS_BY_CREATION
        self._move_root(
            "experiments",
            keys.experiment_key(experiment_id),
            {listing.pk: keys.experiments_gsi1pk(TARGET, stage)},
            (
                keys.experiment_name_key(self.inventory.workspace, name),
                {**keys.experiment_name_key(TARGET, name), "experiment_id": experiment_id},
            ),
            bump="version",
        )
        self.progress(1)

    def _run_and_entries(self, run: Item) -> Iterator[Item]:
        """A run's tag index entries and name postings move and its step gate closes
        (before META, so a rerun after a crash still lists the run), then the key of its
        META for the caller to move."""
        self._move_tag_entries(keys.run_pk(run["run_id"]), workspace_keyed=False)
        if run.get(LIVE_FLAG):
            # its gate names the old workspace: the next step's transaction reopens it
            close_gate(self.gateway, run["run_id"])
        yield self._run_key_after_postings(run)

    def _move_tag_entries(self, owner_pk: str, *, workspace_keyed: bool) -> None:
        """Tag index entries (docs/tag-index.md) of one run or experiment: 1 Query of the
        owner's ``TIX#`` items + 1 UpdateItem each. Experiment entries are listed per
        workspace, so their GSI2 partition key moves too."""
        pattern = indexes.EXPERIMENTS_BY_TAG
        for entry in self.gateway.query(
            tag_index_keys.entries_condition(owner_pk), consistent=True
        ):
            fields = {}
            if workspace_keyed:
                fields[pattern.pk] = tag_index_keys.experiments_by_tag_pk(TARGET, entry["key"])
            expression, names, values = _moved(fields, None)
            with suppress(ConditionFailed):
                self.gateway.update_item(
                    {"PK": entry["PK"], "SK": entry["SK"]},
                    expression,
                    names=names,
                    values=values,
                    condition=Attr("PK").exists(),
                )

    def _scorers(self, experiment_id: str) -> None:
        """Each scorer's versions and online config (an active one moves to the target's
        listing), then its head. No lock counter to bump: scorer writes are conditioned on
        the head's ``latest`` and, through the scoped gateway, on the workspace."""
        active = indexes.ACTIVE_ONLINE_SCORERS
        for head in self.inventory.scorer_heads(experiment_id):
            for item in self.inventory.partition(scorer_keys.scorer_pk(head["scorer_id"])):
                fields = {}
                if active.pk in item:
                    fields[active.pk] = scorer_keys.active_online_scorers_gsi1pk(TARGET)
                self._move({"PK": item["PK"], "SK": item["SK"]}, fields, bump=None)
            listing = {indexes.SCORERS_BY_WORKSPACE.pk: scorer_keys.scorers_gsi1pk(TARGET)}
            self._move({"PK": head["PK"], "SK": head["SK"]}, listing, bump=None)

    def registered_model(self, meta: Item) -> None:
        model_id, name = meta["model_id"], meta["name"]
        by_run = indexes.MODEL_VERSIONS_BY_RUN
        version_values = field_postings.table_indexes(
            self.gateway, field_postings.MODEL_VERSION_TAG_VALUE
        )
        for version in self._versions(model_id):
            if version_values:  # its tag value postings to the target's keys first
                before = model_version_tag_values.item_posting_keys(
                    version, self.inventory.workspace
                )
                after = model_version_tag_values.item_posting_keys(version, TARGET)
                self.gateway.batch_write(puts=after, deletes=before)
            fields = {indexes.MODEL_VERSIONS_BY_WORKSPACE.pk: keys.model_versions_gsi1pk(TARGET)}
            if by_run.pk in version:
                fields[by_run.pk] = keys.model_versions_by_run_gsi2pk(TARGET, version["run_id"])
            fields.update(registry_order_keys.moved_version_keys(version, TARGET))
            self._move({"PK": version["PK"], "SK": version["SK"]}, fields, bump=None)
        self._move_postings(model_name_document(self.inventory.workspace, model_id), name)
        if field_postings.table_indexes(self.gateway, field_postings.MODEL_TAG_VALUE):
            tags = meta.get("tags") or {}
            before = model_tag_values.tag_posting_keys(self.inventory.workspace, model_id, tags)
            after = model_tag_values.tag_posting_keys(TARGET, model_id, tags)
            self.gateway.batch_write(puts=after, deletes=before)
        self._move_root(
            "registered_models",
            keys.registered_model_key(model_id),
            {
                indexes.REGISTERED_MODELS_BY_NAME.pk: keys.registered_models_gsi1pk(TARGET),
                **registry_order_keys.moved_model_keys(meta, TARGET),
            },
            (
                keys.registered_model_name_key(self.inventory.workspace, name),
                {**keys.registered_model_name_key(TARGET, name), "model_id": model_id},
            ),
            bump="rev",
        )
        self.progress(1)

    def _versions(self, model_id: str) -> Iterator[Item]:
        for item in self.inventory.partition(keys.registered_model_pk(model_id)):
            if item["SK"].startswith(keys.MODEL_VERSION_PREFIX):
                yield item

    def evaluation_dataset(self, meta: Item) -> None:
        """The dataset's links, records and big records' parts (rewritten whole, 25 per
        BatchWriteItem, streamed page by page: a dataset may hold thousands of records of
        up to 10 MB), then META into the target's listing. Parts keep their keys, so each
        moved record head still names its parts."""
        dataset_id = meta["dataset_id"]
        key = dataset_keys.dataset_key(dataset_id)
        batch: list[Item] = []
        for item in self.inventory.partition_items(dataset_keys.dataset_pk(dataset_id)):
            if item["SK"] == key["SK"]:
                continue
            moved = {**item, "workspace": TARGET}
            if not item["SK"].startswith(dataset_keys.DATASET_RECORD_PART_PREFIX):
                moved["version"] = int(item.get("version", 0)) + 1
            batch.append(moved)
            if len(batch) >= _MOVE_BATCH:
                self._put_moved(batch)
                batch = []
        self._put_moved(batch)
        listing = indexes.DATASETS_BY_CREATION
        self._move(key, {listing.pk: dataset_keys.datasets_gsi_pk(TARGET)})
        self.progress(1)

    def _put_moved(self, items: list[Item]) -> None:
        # Unscoped: the rewritten items belong to the target, which the source scope refuses.
        self.gateway.unscoped.batch_write(puts=items)
        self.moved += len(items)

    def webhook(self, meta: Item) -> None:
        deleted = meta.get("deleted_timestamp") is not None
        listing = indexes.WEBHOOKS_BY_CREATION
        self._move(
            {"PK": meta["PK"], "SK": meta["SK"]},
            {listing.pk: keys.webhooks_gsi1pk(TARGET, deleted=deleted)},
            bump=None,
        )
        self.progress(1)

    def job(self, item: Item) -> None:
        """A job keeps its id and sort keys; both listings' partition keys name the
        workspace, the status listing's its status too: the move is conditioned on the
        status it read, and a job that changed status meanwhile is left for the next pass."""
        expression, names, values = _moved(
            {
                indexes.JOBS_BY_CREATION.pk: job_keys.jobs_pk(TARGET),
                indexes.JOBS_BY_STATUS.pk: job_keys.jobs_status_pk(TARGET, item["status"]),
            },
            None,
        )
        try:
            self.gateway.update_item(
                {"PK": item["PK"], "SK": item["SK"]},
                expression,
                names=names,
                values=values,
                condition=Attr("status").eq(item["status"]),
            )
        except ConditionFailed:
            return
        self._done()

    def run_all(self) -> int:
        """Move every root of the workspace and what hangs off it; returns the items moved."""
        for model in self.inventory.registered_models():
            self.registered_model(model)
        for experiment in self.inventory.experiments():
            self.experiment(experiment)
        for dataset in self.inventory.evaluation_datasets():
            self.evaluation_dataset(dataset)
        for webhook in self.inventory.webhooks():
            self.webhook(webhook)
        ai_gateway.reassign(self, TARGET)
        for job in self.inventory.jobs():
            self.job(job)
        mcp_servers.reassign(self, TARGET)
        return self.moved


def _moved(fields: Item, bump: str | None) -> tuple[str, dict[str, str], dict]:
    """The update that gives an item to the target workspace: SET the workspace and the
    given index keys, and ADD 1 to ``bump`` (its optimistic-lock counter) when given."""
    expression, names, values = set_expression({"workspace": TARGET, **fields})
    if bump:
        expression += " ADD #u_bump :u_one"
        names["#u_bump"] = bump
        values[":u_one"] = 1
    return expression, names, values
