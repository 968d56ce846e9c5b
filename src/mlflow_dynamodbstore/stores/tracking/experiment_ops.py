"""Experiment operations of the tracking store facade."""

from __future__ import annotations

from mlflow.entities import Experiment, ViewType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local
from mlflow.utils.validation import (
    _validate_experiment_artifact_location_length,
    _validate_experiment_name,
    _validate_experiment_tag,
)

from mlflow_dynamodbstore.repositories.experiments import (
    DEFAULT_EXPERIMENT_ID,
    ExperimentNameTaken,
    ExperimentRepository,
    to_experiment,
)
from mlflow_dynamodbstore.search.experiments import search_experiments_in_memory


class ExperimentOps:
    """Mixed into DynamoDBTrackingStore, which provides ``experiments``,
    ``artifact_root_uri`` and ``_get_active_workspace``."""

    experiments: ExperimentRepository
    artifact_root_uri: str

    def _get_artifact_location(self, experiment_id: str) -> str:
        return append_to_uri_path(self.artifact_root_uri, str(experiment_id))

    def _experiment_item(self, experiment_id: str) -> dict:
        """The experiment's item, if it exists and belongs to the active workspace."""
        experiment_id = str(experiment_id) if experiment_id is not None else DEFAULT_EXPERIMENT_ID
        item = self.experiments.get(experiment_id) if experiment_id else None
        if item is None or item.get("workspace") != self._get_active_workspace():
            raise MlflowException(
                f"No Experiment with id={experiment_id} exists", RESOURCE_DOES_NOT_EXIST
            )
        return item

    def create_experiment(self, name, artifact_location=None, tags=None) -> str:
        _validate_experiment_name(name)
        if artifact_location:
            artifact_location = resolve_uri_if_local(artifact_location)
            _validate_experiment_artifact_location_length(artifact_location)
        for tag in tags or []:
            _validate_experiment_tag(tag.key, tag.value)
        experiment_id = self.experiments.allocate_id()
        try:
            self.experiments.create(
                experiment_id=experiment_id,
                workspace=self._get_active_workspace(),
                name=name,
                artifact_location=artifact_location or self._get_artifact_location(experiment_id),
                creation_time=get_current_time_millis(),
                tags={t.key: t.value for t in tags or []},
            )
        except ExperimentNameTaken:
            raise MlflowException(
                f"Experiment(name={name}) already exists.", RESOURCE_ALREADY_EXISTS
            ) from None
        return experiment_id

    def get_experiment(self, experiment_id) -> Experiment:
        return to_experiment(self._experiment_item(experiment_id))

    def get_experiment_by_name(self, experiment_name) -> Experiment | None:
        workspace = self._get_active_workspace()
        experiment_id = self.experiments.get_id_by_name(workspace, experiment_name)
        if experiment_id is None:
            return None
        item = self.experiments.get(experiment_id)
        return to_experiment(item) if item and item.get("workspace") == workspace else None

    def search_experiments(
        self,
        view_type=ViewType.ACTIVE_ONLY,
        max_results=SEARCH_MAX_RESULTS_DEFAULT,
        filter_string=None,
        order_by=None,
        page_token=None,
    ) -> PagedList[Experiment]:
        return search_experiments_in_memory(
            self.experiments,
            self._get_active_workspace(),
            view_type=view_type,
            max_results=max_results,
            filter_string=filter_string,
            order_by=order_by,
            page_token=page_token,
        )
