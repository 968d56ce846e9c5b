"""Experiment operations of the tracking store facade, with the SQL store's rules, messages
and error codes (mlflow/store/tracking/sqlalchemy_store.py)."""

from __future__ import annotations

from collections.abc import Callable

from mlflow.entities import Experiment, LifecycleStage, ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local
from mlflow.utils.workspace_context import get_request_workspace
from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME, WORKSPACES_DIR_NAME

from mlflow_dynamodbstore.compat.validation import (
    _parse_experiment_id,
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
)
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.lifecycle.deletions import experiment_marker
from mlflow_dynamodbstore.lifecycle.policies import retention_of
from mlflow_dynamodbstore.lifecycle.purge import purge_experiment
from mlflow_dynamodbstore.lifecycle.ttl import soft_delete_ttl
from mlflow_dynamodbstore.repositories.experiments import (
    DEFAULT_EXPERIMENT_ID,
    ExperimentBusy,
    ExperimentMissing,
    ExperimentNameTaken,
    ExperimentNotInStage,
    ExperimentRepository,
    ExperimentTooLarge,
    TagMissing,
    to_experiment,
)
from mlflow_dynamodbstore.repositories.runs.step_gate import close_experiment_gates
from mlflow_dynamodbstore.repositories.tag_index import TagIndexReader, TagIndexState, ready_for
from mlflow_dynamodbstore.repositories.workspaces import WorkspaceRepository
from mlflow_dynamodbstore.search.experiments import search_experiments_in_memory


def experiment_id_or_default(experiment_id) -> str:
    """The SQL store's reading of an id: falsy means the Default experiment, anything else
    must parse as an integer (INVALID_PARAMETER_VALUE otherwise); " 01" means "1"."""
    return str(_parse_experiment_id(experiment_id or DEFAULT_EXPERIMENT_ID))


def _no_experiment(experiment_id: str) -> MlflowException:
    return MlflowException(f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST)


def _name_taken(name: str) -> MlflowException:
    return MlflowException(f"Experiment(name={name}) already exists.", RESOURCE_ALREADY_EXISTS)


def experiment_not_active(experiment_id: str, stage: str) -> MlflowException:
    """The SQL store's error for writing into an experiment that is not active."""
    return MlflowException(
        f"The experiment {experiment_id} must be in the 'active' state. Current state is {stage}.",
        INVALID_PARAMETER_VALUE,
    )


class ExperimentOps:
    """Mixed into DynamoDBTrackingStore, which provides ``experiments``, ``gateway``,
    ``artifact_root_uri``, ``_get_active_workspace`` and ``_workspaces_enabled``."""

    experiments: ExperimentRepository
    artifact_root_uri: str

    def _get_artifact_location(self, experiment_id: str, workspace: str | None = None) -> str:
        """As the SQL stores: ``<root>/<id>``; with workspaces on, the workspace's own
        ``default_artifact_root`` or ``<root>/workspaces/<workspace>/<id>``."""
        if not self._workspaces_enabled():
            return append_to_uri_path(self.artifact_root_uri, str(experiment_id))
        # Without a workspace (the seed of experiment 0 at start-up) there may be no request
        # context yet: experiment 0 always lives in the default workspace.
        workspace = workspace or get_request_workspace() or DEFAULT_WORKSPACE_NAME
        found = WorkspaceRepository(self.gateway.unscoped).get(workspace)
        if found is not None and found.default_artifact_root:
            return append_to_uri_path(found.default_artifact_root, str(experiment_id))
        return append_to_uri_path(
            self.artifact_root_uri, WORKSPACES_DIR_NAME, workspace, str(experiment_id)
        )

    def _experiment_item(self, experiment_id) -> dict:
        """The experiment's item, if it exists and belongs to the active workspace."""
        experiment_id = experiment_id_or_default(experiment_id)
        try:
            return self.experiments.require(experiment_id)
        except ExperimentMissing:
            raise _no_experiment(experiment_id) from None

    def create_experiment(self, name, artifact_location=None, tags=None) -> str:
        if artifact_location and self._workspaces_enabled():
            raise MlflowException.invalid_parameter_value(
                "artifact_location cannot be specified when workspaces are enabled"
            )
        _validate_experiment_name(name)
        if artifact_location:
            artifact_location = resolve_uri_if_local(artifact_location)
            _validate_experiment_artifact_location_length(artifact_location)
        seen: set[str] = set()
        for tag in tags or []:
            _validate_experiment_tag(tag.key, tag.value)
            if tag.key in seen:
                # The SQL store's tag rows collide on their primary key: the whole create
                # fails with RESOURCE_ALREADY_EXISTS.
                raise MlflowException(
                    f"Experiment(name={name}) already exists. Error: duplicate experiment "
                    f"tag key '{tag.key}'",
                    RESOURCE_ALREADY_EXISTS,
                )
            seen.add(tag.key)
        workspace = self._get_active_workspace()
        try:
            return self.experiments.create_next(
                workspace=workspace,
                name=name,
                artifact_location=lambda experiment_id: (
                    artifact_location or self._get_artifact_location(experiment_id, workspace)
                ),
                creation_time=get_current_time_millis(),
                tags={t.key: t.value for t in tags or []},
            )
        except ExperimentNameTaken:
            raise _name_taken(name) from None
        except ExperimentBusy:
            raise MlflowException(
                f"Too many experiments are being created at once to create '{name}'; try again.",
                TEMPORARILY_UNAVAILABLE,
            ) from None

    def get_experiment(self, experiment_id) -> Experiment:
        experiment = to_experiment(self._experiment_item(experiment_id))
        self._with_effective_retention([experiment])
        return experiment

    def get_experiment_by_name(self, experiment_name) -> Experiment | None:
        workspace = self._get_active_workspace()
        experiment_id = self.experiments.get_id_by_name(workspace, experiment_name)
        if experiment_id is None:
            return None
        item = self.experiments.get(experiment_id)
        if not item:
            return None
        experiment = to_experiment(item)
        self._with_effective_retention([experiment])
        return experiment

    def delete_experiment(self, experiment_id) -> None:
        self._move_lifecycle(experiment_id, LifecycleStage.ACTIVE, LifecycleStage.DELETED)

    def restore_experiment(self, experiment_id) -> None:
        self._move_lifecycle(experiment_id, LifecycleStage.DELETED, LifecycleStage.ACTIVE)

    def _move_lifecycle(self, experiment_id, from_stage: str, to_stage: str) -> None:
        """A delete sets META's ``ttl`` (soft-deleted retention) and writes a deletion-index
        marker in the same transaction (GetItem + TransactWriteItems); a restore is one
        UpdateItem that also removes ``ttl``."""
        experiment_id = experiment_id_or_default(experiment_id)
        workspace = self._get_active_workspace()
        now = get_current_time_millis()
        deleting = to_stage == LifecycleStage.DELETED
        try:
            self.experiments.set_lifecycle(
                experiment_id,
                workspace,
                from_stage=from_stage,
                to_stage=to_stage,
                now=now,
                ttl=soft_delete_ttl(retention_of(self._conn), now) if deleting else None,
                marker=(
                    (lambda meta: experiment_marker(experiment_id, workspace, now, meta["name"]))
                    if deleting
                    else None
                ),
                # the runs' training steps pass no gate once the experiment is deleted
                before_flip=(
                    (lambda: close_experiment_gates(self._conn.gateway, experiment_id))
                    if deleting
                    else None
                ),
            )
        except ExperimentMissing:
            raise _no_experiment(experiment_id) from None

    def _hard_delete_experiment(self, experiment_id) -> None:
        """``mlflow gc``: permanently delete a deleted experiment with its runs, traces,
        logged models, scorers, labeling and dataset items and its name guard (the SQL
        store's ORM cascade). Cost: proportional to what the experiment holds."""
        experiment_id = str(experiment_id)
        item = self.experiments.get(experiment_id)
        if item is None or item.get("lifecycle_stage") != LifecycleStage.DELETED:
            raise _no_experiment(experiment_id)
        purge_experiment(
            self._conn.gateway, item["workspace"], experiment_id, item["name"], meta=item
        )

    def rename_experiment(self, experiment_id, new_name) -> None:
        _validate_experiment_name(new_name)
        experiment_id = experiment_id_or_default(experiment_id)
        try:
            self.experiments.rename(
                experiment_id, self._get_active_workspace(), new_name, get_current_time_millis()
            )
        except ExperimentMissing:
            raise _no_experiment(experiment_id) from None
        except ExperimentNotInStage:
            raise MlflowException("Cannot rename a non-active experiment.", INVALID_STATE) from None
        except ExperimentNameTaken:
            # The SQL store surfaces its UNIQUE violation as BAD_REQUEST with the driver's
            # text; we name the clash with the code create_experiment uses.
            raise _name_taken(new_name) from None
        except ExperimentBusy:
            raise MlflowException(
                f"Experiment {experiment_id} is being changed concurrently; try again.",
                TEMPORARILY_UNAVAILABLE,
            ) from None

    def set_experiment_tag(self, experiment_id, tag) -> None:
        _validate_experiment_tag(tag.key, tag.value)
        experiment_id = experiment_id_or_default(experiment_id)
        try:
            self.experiments.set_tag(
                experiment_id, self._get_active_workspace(), tag.key, tag.value
            )
        except ExperimentMissing:
            raise _no_experiment(experiment_id) from None
        except ExperimentNotInStage as exc:
            raise experiment_not_active(experiment_id, exc.lifecycle_stage) from None
        except ExperimentTooLarge:
            raise MlflowException(
                f"Experiment {experiment_id} cannot hold more tags (DynamoDB's 400 KB item limit).",
                INVALID_PARAMETER_VALUE,
            ) from None

    def delete_experiment_tag(self, experiment_id, key) -> None:
        raw_id = experiment_id
        experiment_id = experiment_id_or_default(experiment_id)
        try:
            self.experiments.delete_tag(experiment_id, self._get_active_workspace(), key)
        except ExperimentMissing:
            raise _no_experiment(experiment_id) from None
        except ExperimentNotInStage as exc:
            raise experiment_not_active(experiment_id, exc.lifecycle_stage) from None
        except TagMissing:
            raise MlflowException(
                f"No tag with name: {key} in experiment with id {raw_id}",
                RESOURCE_DOES_NOT_EXIST,
            ) from None

    def search_experiments(
        self,
        view_type=ViewType.ACTIVE_ONLY,
        max_results=SEARCH_MAX_RESULTS_DEFAULT,
        filter_string=None,
        order_by=None,
        page_token=None,
    ) -> PagedList[Experiment]:
        found = search_experiments_in_memory(
            self.experiments,
            self._get_active_workspace(),
            view_type=view_type,
            max_results=max_results,
            filter_string=filter_string,
            order_by=order_by,
            page_token=page_token,
            fts=TrigramIndex(self.gateway, self._conn.settings),
            tag_index=TagIndexReader(self.gateway),
            tag_ready=self._experiment_tag_index_ready(filter_string),
        )
        self._with_effective_retention(found)
        return found

    def _experiment_tag_index_ready(self, filter_string) -> Callable[[str], bool] | None:
        """tag key -> may search_experiments trust the tag index? The key must match a
        table glob configured now and complete (the state item: 1 GetItem, read only when
        the filter has a tag clause)."""
        if not filter_string or "tag" not in filter_string.lower():
            return None
        settings = self._conn.settings.current()
        ready = TagIndexState(self._conn.gateway).load()
        return lambda key: settings.indexes_tag(None, key) and ready_for(ready, None, key)
