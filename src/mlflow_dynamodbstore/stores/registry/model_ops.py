"""Registered model operations of the registry store facade."""

from __future__ import annotations

import uuid
from typing import Any

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.entities.model_registry.model_version_stages import ALL_STAGES, get_canonical_stage
from mlflow.exceptions import MlflowException
from mlflow.prompt.registry_utils import handle_resource_already_exist_error, has_prompt_tag
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.validation import (
    _validate_model_name,
    _validate_model_renaming,
    _validate_registered_model_tag,
    _validate_tag_name,
)
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.repositories.registry.entities import (
    latest_version_keys,
    order_like_get,
    to_model_version,
    to_registered_model,
)
from mlflow_dynamodbstore.repositories.registry.model_versions import ModelVersionRepository
from mlflow_dynamodbstore.repositories.registry.registered_models import (
    ModelNameTaken,
    ModelNotFound,
    RegisteredModelRepository,
)
from mlflow_dynamodbstore.search.registry.models import search_registered_models
from mlflow_dynamodbstore.stores.registry.limits import check_item_payload

Item = dict[str, Any]

# Names are key parts (guard SK, GSI1SK) and DynamoDB caps sort keys at 1024 bytes; the SQL
# schema's column is 256 characters.
MAX_MODEL_NAME_BYTES = 900


def model_not_found(name: str) -> MlflowException:
    return MlflowException(f"Registered Model with name={name} not found", RESOURCE_DOES_NOT_EXIST)


def validate_name_size(name: str) -> None:
    if len(name.encode("utf-8")) > MAX_MODEL_NAME_BYTES:
        raise MlflowException(
            f"Registered model name '{name[:32]}...' is too long: it must be at most "
            f"{MAX_MODEL_NAME_BYTES} bytes in UTF-8.",
            INVALID_PARAMETER_VALUE,
        )


class RegisteredModelOps:
    """Mixed into DynamoDBRegistryStore, which provides the repositories and
    ``_get_active_workspace``."""

    models: RegisteredModelRepository
    versions: ModelVersionRepository

    def _model_item(self, name: str) -> Item:
        _validate_model_name(name)
        item = self.models.find(self._get_active_workspace(), name)
        if item is None:
            raise model_not_found(name)
        return item

    def _registered_model(self, meta: Item) -> RegisteredModel:
        """The entity with its latest version per stage (1 BatchGetItem when it has any)."""
        latest = self.versions.get_many(latest_version_keys(meta))
        versions = [to_model_version(v, meta) for v in latest]
        return to_registered_model(meta, order_like_get(meta, versions))

    def create_registered_model(self, name, tags=None, description=None, deployment_job_id=None):
        _validate_model_name(name)
        for tag in tags or []:
            _validate_registered_model_tag(tag.key, tag.value)
        validate_name_size(name)
        check_item_payload("registered model", description, {t.key: t.value for t in tags or []})
        workspace = self._get_active_workspace()
        try:
            meta = self.models.create(
                model_id=uuid.uuid4().hex,
                workspace=workspace,
                name=name,
                creation_time=get_current_time_millis(),
                description=description,
                tags={t.key: t.value for t in tags or []},
            )
        except ModelNameTaken:
            existing = self.get_registered_model(name)
            handle_resource_already_exist_error(
                name, has_prompt_tag(existing._tags), has_prompt_tag(tags)
            )
            raise  # handle_resource_already_exist_error always raises
        return to_registered_model(meta, [])

    def get_registered_model(self, name) -> RegisteredModel:
        return self._registered_model(self._model_item(name))

    def update_registered_model(self, name, description, deployment_job_id=None):
        meta = self._model_item(name)
        check_item_payload("registered model", description, meta.get("tags"), meta.get("aliases"))
        try:
            meta = self.models.update_description(
                meta["model_id"], description, get_current_time_millis()
            )
        except ModelNotFound:
            raise model_not_found(name) from None
        return self._registered_model(meta)

    def rename_registered_model(self, name, new_name) -> RegisteredModel:
        _validate_model_renaming(new_name)
        meta = self._model_item(name)
        validate_name_size(new_name)
        now = get_current_time_millis()
        try:
            if new_name == name:
                meta = self.models.touch_renamed(meta["model_id"], now)
            else:
                meta = self.models.rename(meta, new_name, now)
        except ModelNameTaken:
            raise MlflowException(
                f"Registered Model (name={new_name}) already exists.", RESOURCE_ALREADY_EXISTS
            ) from None
        except ModelNotFound:
            raise model_not_found(name) from None
        return self._registered_model(meta)

    def delete_registered_model(self, name) -> None:
        meta = self._model_item(name)
        try:
            self.models.delete(meta)
        except ModelNotFound:
            raise model_not_found(name) from None

    def search_registered_models(
        self,
        filter_string=None,
        max_results=SEARCH_REGISTERED_MODEL_MAX_RESULTS_DEFAULT,
        order_by=None,
        page_token=None,
    ) -> PagedList[RegisteredModel]:
        return search_registered_models(
            self.models,
            self.versions,
            self._get_active_workspace(),
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
            fts=TrigramIndex(self.gateway, self._conn.settings),
        )

    def get_latest_versions(self, name, stages=None) -> list[ModelVersion]:
        meta = self._model_item(name)
        wanted = {get_canonical_stage(s) for s in (stages or ALL_STAGES)}
        latest = meta.get("latest") or {}
        items = self.versions.get_many(
            [(meta["model_id"], int(v)) for s, v in latest.items() if s in wanted]
        )
        versions = [to_model_version(v, meta, with_aliases=True) for v in items]
        return order_like_get(meta, versions)

    def set_registered_model_tag(self, name, tag) -> None:
        _validate_model_name(name)
        _validate_registered_model_tag(tag.key, tag.value)
        meta = self._model_item(name)
        tags = {**(meta.get("tags") or {}), tag.key: tag.value}
        check_item_payload("registered model", meta.get("description"), tags, meta.get("aliases"))
        try:
            self.models.set_tag(meta["model_id"], tag.key, tag.value, meta)
        except ModelNotFound:
            raise model_not_found(name) from None

    def delete_registered_model_tag(self, name, key) -> None:
        _validate_model_name(name)
        _validate_tag_name(key)
        meta = self._model_item(name)
        try:
            self.models.delete_tag(meta["model_id"], key, meta)
        except ModelNotFound:
            raise model_not_found(name) from None
