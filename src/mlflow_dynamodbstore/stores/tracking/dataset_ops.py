"""MLflow 3 GenAI evaluation datasets (``mlflow.genai.datasets``) on the tracking store.

Behaves as MLflow 3.17's SqlAlchemyStore (and, with workspaces on, its workspace-aware
subclass): same entities, counts, orders, page tokens and errors. Storage: one partition
per dataset (repositories/datasets/); see docs/evaluation-datasets.md.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from mlflow.entities.evaluation_dataset import EvaluationDataset
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import LOAD_DATASET_RECORDS_MAX_RESULTS
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.mlflow_tags import MLFLOW_USER
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.gateway.errors import Contention
from mlflow_dynamodbstore.repositories.datasets import codec
from mlflow_dynamodbstore.repositories.datasets.datasets import (
    DatasetMissing,
    DatasetRepository,
    existing_experiment_ids,
)
from mlflow_dynamodbstore.repositories.datasets.records import DatasetRecordRepository
from mlflow_dynamodbstore.search.datasets import DatasetQuery, search_items

_logger = logging.getLogger(__name__)


def _not_found(dataset_id: str) -> MlflowException:
    """The workspace-aware SQL store's message for an inaccessible dataset."""
    return MlflowException(f"Dataset '{dataset_id}' not found.", RESOURCE_DOES_NOT_EXIST)


def _schema_after(meta: dict[str, Any], records: list[dict[str, Any]]) -> dict | None:
    """The dataset's schema after these records, by MLflow's own inference. It fails on
    records whose outputs are a value in one and a dict in another (MLflow indexes the
    inferred type string); the SQL store then answers a 500 after rolling back, this store
    INVALID_PARAMETER_VALUE before writing anything."""
    try:
        return codec.SQL_LOGIC._update_dataset_schema(meta.get("schema"), records)
    except (TypeError, AttributeError) as exc:
        raise MlflowException.invalid_parameter_value(
            f"Cannot infer the dataset schema from these records ({exc}): a field must keep "
            "one shape, e.g. 'outputs' either a dict or a single value in every record."
        ) from None


def _busy(what: str) -> MlflowException:
    return MlflowException(
        f"{what} lost to concurrent writers too many times; try again", TEMPORARILY_UNAVAILABLE
    )


class DatasetOps:
    """Mixed into DynamoDBTrackingStore, which provides ``gateway``,
    ``_get_active_workspace`` and ``_workspaces_enabled``."""

    EVALUATION_DATASET_ID_PREFIX = SqlAlchemyStore.EVALUATION_DATASET_ID_PREFIX

    @property
    def datasets(self) -> DatasetRepository:
        return DatasetRepository(self.gateway)

    @property
    def dataset_records(self) -> DatasetRecordRepository:
        return DatasetRecordRepository(self.gateway)

    def _validate_dataset_accessible(self, dataset_id: str) -> None:
        """As the SQL stores' hook: a check only with workspaces on (without, the SQL store
        relies on the rows it finds, and so do the calls here)."""
        if self._workspaces_enabled() and self.datasets.get(dataset_id) is None:
            raise _not_found(dataset_id)

    # ---- datasets ------------------------------------------------------------------
    def create_dataset(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        experiment_ids: list[str] | None = None,
    ) -> EvaluationDataset:
        if not isinstance(name, str):
            raise MlflowException.invalid_parameter_value(
                f"Evaluation dataset name must be a string, got {name!r}"
            )
        dataset_id = f"{self.EVALUATION_DATASET_ID_PREFIX}{uuid.uuid4().hex}"
        now = get_current_time_millis()
        digest = codec.SQL_LOGIC._compute_dataset_digest(name, now)
        tags = {str(k): codec.tag_value(v) for k, v in (tags or {}).items()}
        item = codec.dataset_item(
            workspace=self._get_active_workspace(),
            dataset_id=dataset_id,
            name=name,
            digest=digest,
            now=now,
            tags=tags,
            created_by=tags.get(MLFLOW_USER),
        )
        links = [str(e) for e in experiment_ids or []]
        self.datasets.create(item, links, now)
        dataset = codec.to_dataset(item)
        dataset.experiment_ids = experiment_ids or []
        dataset._tracking_store = self
        return dataset

    def get_dataset(self, dataset_id: str) -> EvaluationDataset:
        item = self.datasets.get(dataset_id)
        if item is None:
            raise MlflowException(
                f"Evaluation dataset with id '{dataset_id}' not found", RESOURCE_DOES_NOT_EXIST
            )
        return codec.to_dataset(item)

    def delete_dataset(self, dataset_id: str) -> None:
        if not self.datasets.delete(dataset_id):
            _logger.warning(f"Evaluation dataset with id '{dataset_id}' not found.")

    def search_datasets(
        self,
        experiment_ids: list[str] | None = None,
        filter_string: str | None = None,
        max_results: int = 1000,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[EvaluationDataset]:
        query = DatasetQuery(filter_string, max_results, order_by, page_token)
        if experiment_ids:
            if query.after is not None:
                raise MlflowException.invalid_parameter_value(
                    "Invalid page token: it belongs to a search without experiment ids"
                )
            ids = [str(e) for e in experiment_ids]
            if self._workspaces_enabled():
                visible = existing_experiment_ids(self.gateway, ids)
                ids = [e for e in ids if e in visible]
            dataset_ids: dict[str, None] = {}
            for experiment_id in dict.fromkeys(e for e in ids if len(e) <= 256):
                dataset_ids.update(
                    dict.fromkeys(self.datasets.dataset_ids_of_experiment(experiment_id))
                )
            candidates = self.datasets.get_many(dataset_ids)
            return search_items(query, candidates, presorted=False)
        listing = self.datasets.list_in_workspace(
            self._get_active_workspace(),
            newest_first=query.is_default_order,
            first_page=query.first_page if query.is_default_order else None,
            older_than=query.after,
        )
        return search_items(query, listing, presorted=True)

    # ---- tags ----------------------------------------------------------------------
    def set_dataset_tags(self, dataset_id: str, tags: dict[str, Any]) -> None:
        values = {str(k): str(v) for k, v in tags.items() if v is not None}
        try:
            self.datasets.set_tags(dataset_id, values)
        except DatasetMissing:
            raise MlflowException(
                f"Could not find evaluation dataset with ID {dataset_id}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None

    def delete_dataset_tag(self, dataset_id: str, key: str) -> None:
        self.datasets.delete_tag(dataset_id, key)

    # ---- records -------------------------------------------------------------------
    def upsert_dataset_records(
        self, dataset_id: str, records: list[dict[str, Any]]
    ) -> dict[str, int]:
        meta = self.datasets.get(dataset_id)
        if meta is None:
            raise _not_found(dataset_id)
        for record in records:
            if not isinstance(record, dict):
                raise MlflowException.invalid_parameter_value("Each record must be a dictionary")
        _schema_after(meta, records)  # refuses bad input before anything is written
        now = get_current_time_millis()
        updated_by = None
        for record in records:
            tags = record.get("tags")
            if tags and MLFLOW_USER in tags:
                updated_by = tags[MLFLOW_USER]
        try:
            result = self.dataset_records.upsert(
                dataset_id, meta["workspace"], records, now, get_current_time_millis
            )
        except DatasetMissing:
            raise _not_found(dataset_id) from None
        except Contention:
            raise _busy("upsert_dataset_records") from None
        self._after_upsert(dataset_id, meta, records, now, updated_by)
        return {"inserted": result.inserted, "updated": result.updated}

    def _after_upsert(
        self, dataset_id: str, meta: dict, records: list, now: int, updated_by: str | None
    ) -> None:
        """Schema, digest, last update (time and user) as the SQL store sets them after an
        upsert (the schema merge re-done on the META of a lost race)."""

        def change(current: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
            fields: dict[str, Any] = {
                "last_update_time": now,
                "digest": codec.SQL_LOGIC._compute_dataset_digest(current["name"], now),
            }
            if schema := _schema_after(current, records):
                fields["schema"] = json.dumps(schema)
            if updated_by is None:
                return fields, ["last_updated_by"]
            return {**fields, "last_updated_by": updated_by}, []

        try:
            self.datasets.update_versioned(dataset_id, meta, change)
        except DatasetMissing:
            raise _not_found(dataset_id) from None
        except Contention:
            raise _busy("upsert_dataset_records") from None

    def delete_dataset_records(self, dataset_id: str, dataset_record_ids: list[str]) -> int:
        self._validate_dataset_accessible(dataset_id)
        try:
            deleted = self.dataset_records.delete(dataset_id, list(dataset_record_ids))
        except Contention:
            raise _busy("delete_dataset_records") from None
        if deleted == 0:
            _logger.warning(
                f"No records found to delete for dataset {dataset_id}. "
                "Records may have already been deleted or never existed."
            )
        return deleted

    def _load_dataset_records(
        self,
        dataset_id: str,
        max_results: int | None = None,
        page_token: str | None = None,
    ):
        if max_results is not None:  # None: every record (the entity's lazy load)
            max_results = max_results or LOAD_DATASET_RECORDS_MAX_RESULTS
        self._validate_dataset_accessible(dataset_id)
        try:
            return self.dataset_records.page(dataset_id, max_results, page_token)
        except Contention:  # a big record on the page rewritten under every read of it
            raise _busy("_load_dataset_records") from None

    # ---- experiments ---------------------------------------------------------------
    def get_dataset_experiment_ids(self, dataset_id: str) -> list[str]:
        ids = list(dict.fromkeys(i["experiment_id"] for i in self.datasets.links(dataset_id)))
        if ids and self._workspaces_enabled():
            visible = existing_experiment_ids(self.gateway, ids)
            ids = [e for e in ids if e in visible]
        return ids

    def add_dataset_to_experiments(
        self, dataset_id: str, experiment_ids: list[str]
    ) -> EvaluationDataset:
        meta = self.datasets.get(dataset_id)
        if meta is None:
            raise MlflowException(
                f"Dataset '{dataset_id}' not found", error_code=RESOURCE_DOES_NOT_EXIST
            )
        wanted = [str(e) for e in experiment_ids]
        existing_experiments = existing_experiment_ids(self.gateway, wanted)
        for experiment_id in wanted:
            if experiment_id not in existing_experiments:
                raise MlflowException(
                    f"No Experiment with id={experiment_id}", error_code=RESOURCE_DOES_NOT_EXIST
                )
        linked = {i["experiment_id"] for i in self.datasets.links(dataset_id)}
        new = [e for e in dict.fromkeys(wanted) if e not in linked]
        if new:
            # One time for the call's links: they then list by experiment id, as the SQL
            # store's rows of one flush (same millisecond) do.
            self.datasets.add_links(meta, new, get_current_time_millis())
        return self._touch(dataset_id)

    def remove_dataset_from_experiments(
        self, dataset_id: str, experiment_ids: list[str]
    ) -> EvaluationDataset:
        meta = self.datasets.get(dataset_id)
        if meta is None:
            raise MlflowException(
                f"Dataset '{dataset_id}' not found", error_code=RESOURCE_DOES_NOT_EXIST
            )
        linked = {i["experiment_id"] for i in self.datasets.links(dataset_id)}
        wanted = [str(e) for e in experiment_ids]
        for experiment_id in wanted:
            if experiment_id not in linked:
                _logger.warning(
                    f"Dataset '{dataset_id}' was not associated with experiment '{experiment_id}'"
                )
        removed = [e for e in dict.fromkeys(wanted) if e in linked]
        if not removed:
            return codec.to_dataset(meta)
        self.datasets.remove_links(dataset_id, removed)
        return self._touch(dataset_id)

    def _touch(self, dataset_id: str) -> EvaluationDataset:
        try:
            item = self.datasets.update(dataset_id, {"last_update_time": get_current_time_millis()})
        except DatasetMissing:
            raise MlflowException(
                f"Dataset '{dataset_id}' not found", error_code=RESOURCE_DOES_NOT_EXIST
            ) from None
        return codec.to_dataset(item)
