"""CASCADE: delete every item a workspace owns.

Children go before their root (a run's metric histories, then the run partition with META
last; spans before a trace's META; versions before a model's META; an experiment's runs,
traces, logged models and scorers before the experiment), so a crash at any point leaves every
remaining item reachable from a root that is still listed: running the job again finishes
it. Cost: one Query per listing page and per partition, plus ⌈items / 25⌉ BatchWriteItem
and one DeleteItem per root — proportional to the workspace's items, no Scan.
"""

from __future__ import annotations

from collections.abc import Callable

from mlflow.entities import LifecycleStage

from mlflow_dynamodbstore.fts import field_postings, postings
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
from mlflow_dynamodbstore.repositories.runs.live import live_metric_keys
from mlflow_dynamodbstore.repositories.runs.value_postings import run_posting_keys
from mlflow_dynamodbstore.repositories.traces import value_postings as trace_value_postings
from mlflow_dynamodbstore.repositories.traces.cost_rollups import experiment_cost_cell_keys
from mlflow_dynamodbstore.repositories.traces.name_dictionary import NameDictionary
from mlflow_dynamodbstore.repositories.traces.rollups import experiment_cell_keys
from mlflow_dynamodbstore.repositories.traces.sessions import trace_session_keys
from mlflow_dynamodbstore.repositories.traces.view_rollups import experiment_view_cell_keys
from mlflow_dynamodbstore.schema import dataset_keys, keys, lifecycle_keys, scorer_keys
from mlflow_dynamodbstore.schema.step_gate_keys import gate_list_pks
from mlflow_dynamodbstore.workspaces import ai_gateway, labeling, mcp_servers
from mlflow_dynamodbstore.workspaces.inventory import Item, WorkspaceInventory

# Called once per root done (run, trace, logged model, experiment, model, webhook): the
# CLI's progress bar counts roots, which the listings give cheaply up front.
Progress = Callable[[int], None]


def _key(item: Item) -> Item:
    return {"PK": item["PK"], "SK": item["SK"]}


class Cascade:
    def __init__(self, inventory: WorkspaceInventory, progress: Progress | None = None):
        self.inventory = inventory
        self.gateway = inventory.gateway
        self.progress = progress or (lambda _n: None)
        self.deleted = 0
        self._value_fields: tuple[str, ...] | None = None

    def value_fields(self) -> tuple[str, ...]:
        """Configured tag/param value fields (read once per job)."""
        if self._value_fields is None:
            self._value_fields = field_postings.table_value_fields(self.gateway)
        return self._value_fields

    def _done(self, n: int) -> None:
        self.deleted += n

    def delete_partition(self, pk: str, root_sk: str | None = keys.META) -> int:
        """Every item under ``pk``, the root item (``root_sk``) last."""
        items = self.inventory.partition(pk)
        children = [_key(i) for i in items if i["SK"] != root_sk]
        self.gateway.batch_write(deletes=children)
        self._done(len(children))
        if root_sk is not None and len(children) < len(items):
            self.gateway.delete_item({"PK": pk, "SK": root_sk})
            self._done(1)
        return len(items)

    def _forget_deletion(self, kind: str, owner_id: str, meta: Item) -> None:
        """A deleted root's deletion-index marker (lifecycle.md): it names the root's own
        deletion, so it goes with it (markers of earlier deletions are dropped by cleanup)."""
        if meta.get("lifecycle_stage") == LifecycleStage.DELETED and meta.get("deleted_time"):
            self.gateway.delete_item(
                lifecycle_keys.deletion_marker_key(kind, owner_id, int(meta["deleted_time"]))
            )
            self._done(1)

    def delete_postings(self, document: postings.Document, text: str | None) -> None:
        """The trigram postings of a root's name, before the root (a rerun finds the root
        and deletes them again); counted with the items deleted."""
        postings_keys = document.keys(text)
        self.gateway.batch_write(deletes=postings_keys)
        self._done(len(postings_keys))

    # ---- per root ------------------------------------------------------------------
    def run(self, meta: Item) -> None:
        run_id = meta["run_id"]
        self._forget_deletion(lifecycle_keys.KIND_RUN, run_id, meta)
        if "experiment_id" in meta:  # else an expired run's META is gone and so is its name
            fetch = lambda want: self.gateway.batch_get(want, consistent=True)  # noqa: E731
            self.delete_postings(run_name_document(meta), stored_run_name(meta, fetch))
            values = run_posting_keys(meta, fetch, self.value_fields())
            self.gateway.batch_write(deletes=values)
            self._done(len(values))
        for key in {*(meta.get("metrics") or {}), *live_metric_keys(self.gateway, meta)}:
            self.delete_partition(keys.metric_history_pk(run_id, key), root_sk=None)
        self.delete_partition(keys.run_pk(run_id))
        self.progress(1)

    def experiment(self, meta: Item) -> None:
        experiment_id = str(meta["experiment_id"])
        self._forget_deletion(lifecycle_keys.KIND_EXPERIMENT, experiment_id, meta)
        for run in self.inventory.runs(experiment_id):
            self.run(run)
        for pk in gate_list_pks(experiment_id):  # its runs' step gates (step_gate_keys.py)
            self.delete_partition(pk, root_sk=None)
        # The trace rollup cells before the traces: a rerun finds them by the traces left.
        cells = experiment_cell_keys(self.gateway, experiment_id)
        cells += experiment_view_cell_keys(self.gateway, experiment_id)  # SPANS/ASSESSMENTS
        cells += experiment_cost_cell_keys(self.gateway, experiment_id)  # span costs
        self.gateway.batch_write(deletes=cells)
        self._done(len(cells))
        trace_fields = field_postings.table_trace_value_fields(self.gateway)
        for trace in self.inventory.traces(experiment_id):
            self.gateway.batch_write(deletes=trace_session_keys(trace))  # before its META
            values = trace_value_postings.posting_keys(trace, trace_fields)  # likewise
            self.gateway.batch_write(deletes=values)
            self._done(len(values))
            self.delete_partition(keys.trace_pk(trace["trace_id"]))
            self.progress(1)
        # The trace-name dictionary after the traces (keyed by the experiment: a rerun
        # finds it while the experiment's META is there).
        self._done(NameDictionary(self.gateway).delete_experiment(experiment_id))
        for model in self.inventory.logged_models(experiment_id):
            self.delete_postings(logged_model_name_document(model), model.get("name"))
            self.delete_partition(keys.logged_model_pk(model["model_id"]))
            self.progress(1)
        labeling.cascade_experiment(self, experiment_id)
        for head in self.inventory.scorer_heads(experiment_id):
            self.delete_partition(scorer_keys.scorer_pk(head["scorer_id"]), root_sk=None)
        self.delete_partition(scorer_keys.experiment_scorers_pk(experiment_id), root_sk=None)
        self.delete_partition(keys.dataset_summaries_pk(experiment_id), root_sk=None)
        self.delete_partition(keys.datasets_pk(experiment_id), root_sk=None)
        document = experiment_name_document(self.inventory.workspace, experiment_id)
        self.delete_postings(document, meta.get("name"))
        if field_postings.table_indexes(self.gateway, field_postings.EXPERIMENT_TAG_VALUE):
            values = experiment_tag_values.tag_posting_keys(
                self.inventory.workspace, experiment_id, meta.get("tags") or {}
            )
            self.gateway.batch_write(deletes=values)
            self._done(len(values))
        self.delete_partition(keys.experiment_pk(experiment_id))
        self.progress(1)

    def _version_tag_postings(self, model_id: str) -> None:
        """The tag value postings of a model's versions, before its partition (a rerun
        finds the versions and deletes them again)."""
        values = [
            posting
            for item in self.inventory.partition(keys.registered_model_pk(model_id))
            if item["SK"].startswith(keys.MODEL_VERSION_PREFIX)
            for posting in model_version_tag_values.item_posting_keys(
                item, self.inventory.workspace
            )
        ]
        self.gateway.batch_write(deletes=values)
        self._done(len(values))

    def run_all(self) -> int:
        """Delete every root of the workspace and what hangs off it; the workspace item
        itself (the job record) is left for the caller. Returns the items deleted."""
        for experiment in self.inventory.experiments():
            self.experiment(experiment)
        for model in self.inventory.registered_models():
            document = model_name_document(self.inventory.workspace, model["model_id"])
            self.delete_postings(document, model.get("name"))
            if field_postings.table_indexes(self.gateway, field_postings.MODEL_TAG_VALUE):
                values = model_tag_values.tag_posting_keys(
                    self.inventory.workspace, model["model_id"], model.get("tags") or {}
                )
                self.gateway.batch_write(deletes=values)
                self._done(len(values))
            if field_postings.table_indexes(self.gateway, field_postings.MODEL_VERSION_TAG_VALUE):
                self._version_tag_postings(model["model_id"])
            self.delete_partition(keys.registered_model_pk(model["model_id"]))
            self.progress(1)
        for dataset in self.inventory.evaluation_datasets():
            # links and records, META last
            self.delete_partition(dataset_keys.dataset_pk(dataset["dataset_id"]))
            self.progress(1)
        for webhook in self.inventory.webhooks():
            self.delete_partition(webhook["PK"])
            self.progress(1)
        ai_gateway.cascade(self)
        jobs = [_key(job) for job in self.inventory.jobs()]
        self.gateway.batch_write(deletes=jobs)  # one item per job, nothing hangs off it
        self._done(len(jobs))
        mcp_servers.cascade(self)
        # Name guards (and anything else) left in the workspace partition, not its item.
        guards = [
            _key(i)
            for i in self.inventory.partition(keys.workspace_pk(self.inventory.workspace))
            if i["SK"] != keys.META
        ]
        self.gateway.batch_write(deletes=guards)
        self._done(len(guards))
        return self.deleted
