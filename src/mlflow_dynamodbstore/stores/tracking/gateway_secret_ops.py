"""AI gateway secrets and model definitions (MLflow's gateway store API), with the SQL
store's results and error codes. Encryption happens in repositories/ai_gateway/secrets.py
with MLflow's own helpers; nothing here sees more than the masked value."""

from __future__ import annotations

import uuid
from typing import Any

from mlflow.entities import GatewayModelDefinition, GatewaySecretInfo
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.ai_gateway import entities
from mlflow_dynamodbstore.repositories.ai_gateway.common import InUse, Missing, NameTaken
from mlflow_dynamodbstore.repositories.ai_gateway.model_definitions import (
    ModelDefinitionRepository,
    SecretGone,
)
from mlflow_dynamodbstore.repositories.ai_gateway.secrets import SecretRepository


def validate_one_of(name1: str, value1: Any, name2: str, value2: Any) -> None:
    if (value1 is None) == (value2 is None):
        raise MlflowException(
            f"Exactly one of {name1} or {name2} must be provided",
            error_code=INVALID_PARAMETER_VALUE,
        )


def not_found(entity: str, **filters: Any) -> MlflowException:
    """The SQL store's ``_get_entity_or_raise`` message."""
    filter_str = ", ".join(f"{k}='{v}'" for k, v in filters.items())
    return MlflowException(f"{entity} not found ({filter_str})", RESOURCE_DOES_NOT_EXIST)


def _secret_missing(secret_id: str) -> MlflowException:
    return not_found("GatewaySecret", secret_id=secret_id)


class GatewaySecretOps:
    """Mixed into DynamoDBTrackingStore, which provides ``gateway`` (workspace-scoped)."""

    @property
    def ai_secrets(self) -> SecretRepository:
        return SecretRepository(self.gateway)

    @property
    def ai_model_definitions(self) -> ModelDefinitionRepository:
        return ModelDefinitionRepository(self.gateway)

    # ---- secrets -----------------------------------------------------------------------
    def create_gateway_secret(
        self,
        secret_name: str,
        secret_value: dict[str, str],
        provider: str | None = None,
        auth_config: dict[str, Any] | None = None,
        created_by: str | None = None,
    ) -> GatewaySecretInfo:
        try:
            item = self.ai_secrets.create(
                secret_id=f"s-{uuid.uuid4().hex}",
                name=secret_name,
                value=secret_value,
                provider=provider,
                auth_config=auth_config,
                created_by=created_by,
                now=get_current_time_millis(),
            )
        except NameTaken:
            raise MlflowException(
                f"Secret with name '{secret_name}' already exists", RESOURCE_ALREADY_EXISTS
            ) from None
        return entities.secret_info(item)

    def get_secret_info(
        self, secret_id: str | None = None, secret_name: str | None = None
    ) -> GatewaySecretInfo:
        validate_one_of("secret_id", secret_id, "secret_name", secret_name)
        if secret_id:
            item = self.ai_secrets.get(secret_id)
            if item is None:
                raise _secret_missing(secret_id)
        else:
            item = self.ai_secrets.get_by_name(secret_name)
            if item is None:
                raise not_found("GatewaySecret", secret_name=secret_name)
        return entities.secret_info(item)

    def update_gateway_secret(
        self,
        secret_id: str,
        secret_value: dict[str, str] | None = None,
        auth_config: dict[str, Any] | None = None,
        updated_by: str | None = None,
    ) -> GatewaySecretInfo:
        try:
            item = self.ai_secrets.update(
                secret_id,
                value=secret_value,
                auth_config=auth_config,
                updated_by=updated_by,
                now=get_current_time_millis(),
            )
        except Missing:
            raise _secret_missing(secret_id) from None
        self._invalidate_secret_cache()
        return entities.secret_info(item)

    def delete_gateway_secret(self, secret_id: str) -> None:
        try:
            self.ai_secrets.delete(secret_id)
        except Missing:
            raise _secret_missing(secret_id) from None
        self.ai_model_definitions.clear_secret(secret_id)
        self._invalidate_secret_cache()

    def list_secret_infos(self, provider: str | None = None) -> list[GatewaySecretInfo]:
        items = self.ai_secrets.list()
        if provider is not None:
            items = [i for i in items if i.get("provider") == provider]
        return [entities.secret_info(i) for i in items]

    # ---- model definitions -------------------------------------------------------------
    def _secret_names_for(self, items: list[dict]) -> dict[str, str]:
        return self.ai_secrets.names({i.get("secret_id") for i in items} - {None})

    def _model_definition_entity(self, item: dict) -> GatewayModelDefinition:
        return entities.model_definition(item, self._secret_names_for([item]))

    def create_gateway_model_definition(
        self,
        name: str,
        secret_id: str,
        provider: str,
        model_name: str,
        created_by: str | None = None,
    ) -> GatewayModelDefinition:
        secret = self.ai_secrets.get(secret_id)
        if secret is None:
            raise _secret_missing(secret_id)
        try:
            item = self.ai_model_definitions.create(
                model_definition_id=f"d-{uuid.uuid4().hex}",
                name=name,
                secret_id=secret_id,
                provider=provider,
                model_name=model_name,
                created_by=created_by,
                now=get_current_time_millis(),
            )
        except SecretGone:
            raise _secret_missing(secret_id) from None
        except NameTaken:
            raise MlflowException(
                f"Model definition with name '{name}' already exists", RESOURCE_ALREADY_EXISTS
            ) from None
        return entities.model_definition(item, {secret_id: secret["secret_name"]})

    def get_gateway_model_definition(
        self, model_definition_id: str | None = None, name: str | None = None
    ) -> GatewayModelDefinition:
        validate_one_of("model_definition_id", model_definition_id, "name", name)
        if model_definition_id:
            item = self.ai_model_definitions.get(model_definition_id)
            if item is None:
                raise not_found("GatewayModelDefinition", model_definition_id=model_definition_id)
        else:
            item = self.ai_model_definitions.get_by_name(name)
            if item is None:
                raise not_found("GatewayModelDefinition", name=name)
        return self._model_definition_entity(item)

    def list_gateway_model_definitions(
        self, provider: str | None = None, secret_id: str | None = None
    ) -> list[GatewayModelDefinition]:
        items = self.ai_model_definitions.list()
        names = self._secret_names_for(items)
        result = [entities.model_definition(i, names) for i in items]
        if provider is not None:
            result = [d for d in result if d.provider == provider]
        if secret_id is not None:
            result = [d for d in result if d.secret_id == secret_id]
        return result

    def update_gateway_model_definition(
        self,
        model_definition_id: str,
        name: str | None = None,
        secret_id: str | None = None,
        model_name: str | None = None,
        updated_by: str | None = None,
        provider: str | None = None,
    ) -> GatewayModelDefinition:
        current = self.ai_model_definitions.get(model_definition_id)
        if current is None:
            raise not_found("GatewayModelDefinition", model_definition_id=model_definition_id)
        if secret_id is not None and self.ai_secrets.get(secret_id) is None:
            raise _secret_missing(secret_id)
        try:
            item = self.ai_model_definitions.update(
                model_definition_id,
                current=current,
                name=name,
                secret_id=secret_id,
                model_name=model_name,
                provider=provider,
                updated_by=updated_by,
                now=get_current_time_millis(),
            )
        except Missing:
            raise not_found(
                "GatewayModelDefinition", model_definition_id=model_definition_id
            ) from None
        except SecretGone:
            raise _secret_missing(secret_id) from None
        except NameTaken:
            raise MlflowException(
                f"Model definition with name '{name}' already exists", RESOURCE_ALREADY_EXISTS
            ) from None
        self._invalidate_secret_cache()
        return self._model_definition_entity(item)

    def delete_gateway_model_definition(self, model_definition_id: str) -> None:
        try:
            self.ai_model_definitions.delete(model_definition_id)
        except Missing:
            raise not_found(
                "GatewayModelDefinition", model_definition_id=model_definition_id
            ) from None
        except InUse:
            raise MlflowException(
                "Cannot delete model definition that is currently in use by endpoints. "
                "Detach it from all endpoints first.",
                error_code=INVALID_STATE,
            ) from None
        self._invalidate_secret_cache()
