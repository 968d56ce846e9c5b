"""Model version and alias operations of the registry store facade."""

from __future__ import annotations

import urllib.parse
from typing import Any

from mlflow.entities.model_registry import ModelVersion
from mlflow.entities.model_registry.model_version_stages import (
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    STAGE_NONE,
    get_canonical_stage,
)
from mlflow.entities.model_registry.model_version_status import ModelVersionStatus
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.model_registry import SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.helpers import _parse_model_uri
from mlflow_dynamodbstore.compat.validation import (
    _REGISTERED_MODEL_ALIAS_LATEST,
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_version,
    _validate_model_version_tag,
    _validate_tag_name,
)
from mlflow_dynamodbstore.fts.lookup import TrigramIndex
from mlflow_dynamodbstore.lifecycle.policies import retention_of
from mlflow_dynamodbstore.lifecycle.ttl import deleted_version_ttl
from mlflow_dynamodbstore.repositories.registry.entities import to_model_version
from mlflow_dynamodbstore.repositories.registry.model_versions import (
    ConcurrentModification,
    ModelVersionRepository,
    VersionNotFound,
    is_live,
)
from mlflow_dynamodbstore.repositories.registry.registered_models import (
    ModelNotFound,
    RegisteredModelRepository,
)
from mlflow_dynamodbstore.search.registry.versions import search_model_versions
from mlflow_dynamodbstore.stores.registry.limits import check_item_payload
from mlflow_dynamodbstore.stores.registry.model_ops import model_not_found

Item = dict[str, Any]


def version_not_found(name: str, version: Any) -> MlflowException:
    return MlflowException(
        f"Model Version (name={name}, version={version}) not found", RESOURCE_DOES_NOT_EXIST
    )


class ModelVersionOps:
    """Mixed into DynamoDBRegistryStore (see RegisteredModelOps for what it provides)."""

    models: RegisteredModelRepository
    versions: ModelVersionRepository

    def _version_items(self, name: str, version: Any) -> tuple[Item, Item]:
        """(META, live version item), validating like the SQL store's _get_sql_model_version."""
        _validate_model_name(name)
        number = _validate_model_version(version)
        meta = self.models.find(self._get_active_workspace(), name)
        item = self.versions.get(meta["model_id"], number) if meta else None
        if item is None or not is_live(item):
            raise version_not_found(name, number)
        return meta, item

    # ---- versions --------------------------------------------------------------------
    def create_model_version(
        self,
        name,
        source,
        run_id=None,
        tags=None,
        run_link=None,
        description=None,
        local_model_path=None,
        model_id: str | None = None,
    ) -> ModelVersion:
        _validate_model_name(name)
        for tag in tags or []:
            _validate_model_version_tag(tag.key, tag.value)
        tag_map = {t.key: t.value for t in tags or []}
        check_item_payload("model version", description, tag_map, source, run_link, run_id)
        storage_location = source
        if urllib.parse.urlparse(source).scheme == "models":
            storage_location, run_id = self._resolve_models_uri(source, run_id)
        if not run_id and model_id:
            from mlflow.tracking.client import MlflowClient

            run_id = MlflowClient().get_logged_model(model_id).source_run_id

        now = get_current_time_millis()  # read where the SQL store reads it
        meta = self._model_item(name)
        try:
            item = self.versions.create(
                meta,
                {
                    "creation_time": now,
                    "last_updated_time": now,
                    "description": description,
                    "user_id": None,
                    "current_stage": STAGE_NONE,
                    "source": source,
                    "storage_location": storage_location,
                    "run_id": run_id,
                    "run_link": run_link,
                    "status": ModelVersionStatus.to_string(ModelVersionStatus.READY),
                    "status_message": None,
                    "tags": tag_map,
                },
            )
        except ModelNotFound:
            raise model_not_found(name) from None
        except ConcurrentModification:
            raise _busy(name) from None
        return to_model_version(item, meta, with_aliases=True)

    def _resolve_models_uri(self, source: str, run_id: str | None) -> tuple[str, str | None]:
        parsed = _parse_model_uri(source)
        try:
            if parsed.model_id is not None:
                from mlflow.tracking.client import MlflowClient

                model = MlflowClient().get_logged_model(parsed.model_id)
                return model.artifact_location, run_id or model.source_run_id
            return self.get_model_version_download_uri(parsed.name, parsed.version), run_id
        except Exception as e:
            raise MlflowException(
                f"Unable to fetch model from model URI source artifact location '{source}'."
                f"Error: {e}"
            ) from e

    def get_model_version(self, name, version) -> ModelVersion:
        meta, item = self._version_items(name, version)
        return to_model_version(item, meta, with_aliases=True)

    def get_model_version_download_uri(self, name, version) -> str:
        _, item = self._version_items(name, version)
        return item.get("storage_location") or item.get("source")

    def update_model_version(self, name, version, description=None) -> ModelVersion:
        now = get_current_time_millis()
        meta, item = self._version_items(name, version)
        check_item_payload("model version", description, item.get("tags"), *_fixed(item))
        try:
            item = self.versions.update_description(
                meta["model_id"], int(item["version"]), description, now
            )
        except VersionNotFound:
            raise version_not_found(name, int(item["version"])) from None
        return to_model_version(item, meta, with_aliases=True)

    def transition_model_version_stage(
        self, name, version, stage, archive_existing_versions
    ) -> ModelVersion:
        canonical = get_canonical_stage(stage)
        if archive_existing_versions and canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS:
            # The SQL store raises this without an error code (a 500); it is bad input.
            raise MlflowException(
                "Model version transition cannot archive existing model versions because "
                f"'{stage}' is not an Active stage. Valid stages are "
                f"{DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}",
                INVALID_PARAMETER_VALUE,
            )
        now = get_current_time_millis()
        meta, item = self._version_items(name, version)
        number = int(item["version"])
        try:
            new_meta, new_item = self.versions.transition(
                meta["model_id"], number, canonical, bool(archive_existing_versions), now
            )
        except (VersionNotFound, ModelNotFound):
            raise version_not_found(name, number) from None
        except ConcurrentModification:
            raise _busy(name) from None
        return to_model_version(new_item, new_meta, with_aliases=True)

    def delete_model_version(self, name, version) -> None:
        number = _validate_model_version(version)
        now = get_current_time_millis()
        meta, _ = self._version_items(name, number)
        try:
            self.versions.soft_delete(
                meta["model_id"], number, now, deleted_version_ttl(retention_of(self._conn), now)
            )
        except (VersionNotFound, ModelNotFound):
            raise version_not_found(name, number) from None
        except ConcurrentModification:
            raise _busy(name) from None

    def search_model_versions(
        self,
        filter_string=None,
        max_results=SEARCH_MODEL_VERSION_MAX_RESULTS_DEFAULT,
        order_by=None,
        page_token=None,
    ) -> PagedList[ModelVersion]:
        return search_model_versions(
            self.models,
            self.versions,
            self._get_active_workspace(),
            filter_string=filter_string,
            max_results=max_results,
            order_by=order_by,
            page_token=page_token,
            fts=TrigramIndex(self.gateway, self._conn.settings),
        )

    # ---- version tags ----------------------------------------------------------------
    def set_model_version_tag(self, name, version, tag) -> None:
        _validate_model_name(name)
        number = _validate_model_version(version)
        _validate_model_version_tag(tag.key, tag.value)
        meta, item = self._version_items(name, number)
        tags = {**(item.get("tags") or {}), tag.key: tag.value}
        check_item_payload("model version", item.get("description"), tags, *_fixed(item))
        try:
            self.versions.set_tag(meta["model_id"], number, tag.key, tag.value, item)
        except VersionNotFound:
            raise version_not_found(name, number) from None
        except ConcurrentModification:
            raise _busy(name) from None

    def delete_model_version_tag(self, name, version, key) -> None:
        _validate_model_name(name)
        number = _validate_model_version(version)
        _validate_tag_name(key)
        meta, item = self._version_items(name, number)
        try:
            self.versions.delete_tag(meta["model_id"], number, key, item)
        except VersionNotFound:
            raise version_not_found(name, number) from None
        except ConcurrentModification:
            raise _busy(name) from None

    # ---- aliases ---------------------------------------------------------------------
    def set_registered_model_alias(self, name, alias, version) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        number = _validate_model_version(version)
        meta, _ = self._version_items(name, number)
        try:
            self.versions.set_alias(meta["model_id"], alias, number)
        except (VersionNotFound, ModelNotFound):
            raise version_not_found(name, number) from None

    def delete_registered_model_alias(self, name, alias) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        meta = self._model_item(name)
        try:
            self.versions.delete_alias(meta["model_id"], alias)
        except ModelNotFound:
            raise model_not_found(name) from None

    def get_model_version_by_alias(self, name, alias) -> ModelVersion:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        if alias.lower() == _REGISTERED_MODEL_ALIAS_LATEST:
            if versions := self.get_latest_versions(name):
                return max(versions, key=lambda mv: int(mv.version))
            raise MlflowException(
                f"Latest version not found for model {name}.", RESOURCE_DOES_NOT_EXIST
            )
        meta = self._model_item(name)
        version = (meta.get("aliases") or {}).get(alias)
        if version is None:
            raise MlflowException(
                f"Registered model alias {alias} not found.", INVALID_PARAMETER_VALUE
            )
        item = self.versions.get(meta["model_id"], int(version))
        if item is None or not is_live(item):  # aliases of a deleted version are removed
            raise version_not_found(name, int(version))
        return to_model_version(item, meta, with_aliases=True)

    def _await_model_version_creation(self, mv, await_creation_for):
        """Versions are READY as soon as they are created, as in the SQL store."""


def _fixed(item: Item) -> tuple:
    """A version's attributes that count towards its item size but never change."""
    return item.get("source"), item.get("run_link"), item.get("run_id")


def _busy(name: str) -> MlflowException:
    return MlflowException(
        f"Registered model {name} is being modified concurrently; retry.",
        TEMPORARILY_UNAVAILABLE,
    )
