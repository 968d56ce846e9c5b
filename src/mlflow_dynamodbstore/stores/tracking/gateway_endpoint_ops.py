"""AI gateway endpoints: create/get/update/delete/list, tags, attaching and detaching
model definitions, with the SQL store's results and error codes."""

from __future__ import annotations

import json
import uuid

from mlflow.entities import (
    FallbackConfig,
    GatewayEndpoint,
    GatewayEndpointModelConfig,
    GatewayEndpointModelMapping,
    GatewayEndpointTag,
    RoutingStrategy,
)
from mlflow.entities.experiment_tag import ExperimentTag
from mlflow.entities.gateway_endpoint import GatewayModelLinkageType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    ErrorCode,
)
from mlflow.utils.mlflow_tags import (
    MLFLOW_EXPERIMENT_IS_GATEWAY,
    MLFLOW_EXPERIMENT_SOURCE_ID,
    MLFLOW_EXPERIMENT_SOURCE_TYPE,
)
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.validation import _parse_experiment_id
from mlflow_dynamodbstore.repositories.ai_gateway import entities
from mlflow_dynamodbstore.repositories.ai_gateway.bindings import BindingRepository
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    AlreadyAttached,
    Missing,
    NameTaken,
)
from mlflow_dynamodbstore.repositories.ai_gateway.endpoints import (
    Endpoint,
    EndpointRepository,
    ModelDefinitionGone,
)
from mlflow_dynamodbstore.stores.tracking.gateway_secret_ops import not_found, validate_one_of


def _endpoint_missing(endpoint_id: str) -> MlflowException:
    return not_found("GatewayEndpoint", endpoint_id=endpoint_id)


def _fallback_json(
    fallback_config: FallbackConfig | None, model_configs: list[GatewayEndpointModelConfig]
) -> str:
    return json.dumps(
        {
            "strategy": fallback_config.strategy.value
            if fallback_config and fallback_config.strategy
            else None,
            "max_attempts": fallback_config.max_attempts if fallback_config else None,
            "model_definition_ids": [
                c.model_definition_id
                for c in model_configs
                if c.linkage_type == GatewayModelLinkageType.FALLBACK
            ],
        }
    )


def _gateway_experiment_tags(endpoint_id: str) -> list[ExperimentTag]:
    return [
        ExperimentTag(MLFLOW_EXPERIMENT_SOURCE_TYPE, "GATEWAY"),
        ExperimentTag(MLFLOW_EXPERIMENT_SOURCE_ID, endpoint_id),
        ExperimentTag(MLFLOW_EXPERIMENT_IS_GATEWAY, "true"),
    ]


class GatewayEndpointOps:
    """Mixed into DynamoDBTrackingStore with GatewaySecretOps (``ai_model_definitions``,
    ``_secret_names_for``) and the experiment operations."""

    @property
    def ai_endpoints(self) -> EndpointRepository:
        return EndpointRepository(self.gateway)

    def _get_or_create_experiment_id(self, experiment_name: str, tags=None) -> str:
        """The SQL gateway mixin's helper: an endpoint's ``gateway/<name>`` experiment."""
        try:
            return self.create_experiment(experiment_name, tags=tags)
        except MlflowException as e:
            if e.error_code == ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                experiment = self.get_experiment_by_name(experiment_name)
                if experiment is not None:
                    return experiment.experiment_id
            raise

    def _endpoint_entities(self, found: list[Endpoint]) -> list[GatewayEndpoint]:
        ids = {m["model_definition_id"] for e in found for m in e.mappings}
        definitions = self.ai_model_definitions.many(ids) if ids else {}
        names = self._secret_names_for(list(definitions.values()))
        return [entities.endpoint(e, definitions, names) for e in found]

    def _read_endpoint(self, endpoint_id: str) -> Endpoint:
        found = self.ai_endpoints.get(endpoint_id)
        if found is None:
            raise _endpoint_missing(endpoint_id)
        return found

    def _check_definitions(self, ids: set[str]) -> None:
        found = self.ai_model_definitions.many(ids) if ids else {}
        if missing := ids - set(found):
            raise MlflowException(
                f"Model definitions not found: {', '.join(missing)}", RESOURCE_DOES_NOT_EXIST
            )

    def create_gateway_endpoint(
        self,
        name: str,
        model_configs: list[GatewayEndpointModelConfig],
        created_by: str | None = None,
        routing_strategy: RoutingStrategy | None = None,
        fallback_config: FallbackConfig | None = None,
        experiment_id: str | None = None,
        usage_tracking: bool = True,
    ) -> GatewayEndpoint:
        if not model_configs:
            raise MlflowException(
                "Endpoint must have at least one model configuration",
                error_code=INVALID_PARAMETER_VALUE,
            )
        self._check_definitions({c.model_definition_id for c in model_configs})
        endpoint_id = f"e-{uuid.uuid4().hex}"
        now = get_current_time_millis()
        if usage_tracking and experiment_id is None:
            experiment_id = self._get_or_create_experiment_id(
                f"gateway/{name}", tags=_gateway_experiment_tags(endpoint_id)
            )
        has_fallback = any(
            c.linkage_type == GatewayModelLinkageType.FALLBACK for c in model_configs
        )
        fields = {
            "routing_strategy": routing_strategy.value if routing_strategy else None,
            "fallback_config_json": _fallback_json(fallback_config, model_configs)
            if fallback_config or has_fallback
            else None,
            "experiment_id": str(_parse_experiment_id(experiment_id))
            if experiment_id is not None
            else None,
            "usage_tracking": bool(usage_tracking),
        }
        try:
            self.ai_endpoints.create(
                endpoint_id=endpoint_id,
                name=name,
                fields=fields,
                model_configs=model_configs,
                created_by=created_by,
                now=now,
            )
        except ModelDefinitionGone:
            self._check_definitions({c.model_definition_id for c in model_configs})
            raise
        except NameTaken:
            # the SQL store surfaces its unique constraint as BAD_REQUEST
            raise MlflowException(
                f"Endpoint with name '{name}' already exists", BAD_REQUEST
            ) from None
        except AlreadyAttached:
            raise MlflowException(
                "A model definition is listed twice with the same linkage type", BAD_REQUEST
            ) from None
        return self.get_gateway_endpoint(endpoint_id=endpoint_id)

    def get_gateway_endpoint(
        self, endpoint_id: str | None = None, name: str | None = None
    ) -> GatewayEndpoint:
        validate_one_of("endpoint_id", endpoint_id, "name", name)
        if endpoint_id:
            found = self._read_endpoint(endpoint_id)
        else:
            found = self.ai_endpoints.get_by_name(name)
            if found is None:
                raise not_found("GatewayEndpoint", name=name)
        return self._endpoint_entities([found])[0]

    def update_gateway_endpoint(
        self,
        endpoint_id: str,
        name: str | None = None,
        updated_by: str | None = None,
        routing_strategy: RoutingStrategy | None = None,
        fallback_config: FallbackConfig | None = None,
        model_configs: list[GatewayEndpointModelConfig] | None = None,
        experiment_id: str | None = None,
        usage_tracking: bool | None = None,
    ) -> GatewayEndpoint:
        current = self._read_endpoint(endpoint_id)
        item = current.item
        fields: dict = {}
        if name is not None:
            fields["name"] = name
        if usage_tracking is not None:
            fields["usage_tracking"] = bool(usage_tracking)
        if usage_tracking and experiment_id is None and item.get("experiment_id") is None:
            experiment_id = self._get_or_create_experiment_id(
                f"gateway/{name if name is not None else item.get('name')}",
                tags=_gateway_experiment_tags(endpoint_id),
            )
        if experiment_id is not None:
            fields["experiment_id"] = str(_parse_experiment_id(experiment_id))
        if routing_strategy is not None:
            fields["routing_strategy"] = routing_strategy.value
        if model_configs is not None:
            for model_definition_id in {c.model_definition_id for c in model_configs}:
                if self.ai_model_definitions.get(model_definition_id) is None:
                    raise not_found(
                        "GatewayModelDefinition", model_definition_id=model_definition_id
                    )
            fields["fallback_config_json"] = _fallback_json(fallback_config, model_configs)
        elif fallback_config is not None:
            existing = (
                json.loads(item["fallback_config_json"]) if item.get("fallback_config_json") else {}
            )
            fields["fallback_config_json"] = json.dumps(
                {
                    "strategy": fallback_config.strategy.value
                    if fallback_config.strategy
                    else None,
                    "max_attempts": fallback_config.max_attempts,
                    "model_definition_ids": existing.get("model_definition_ids", []),
                }
            )
        if updated_by:
            fields["last_updated_by"] = updated_by
        try:
            self.ai_endpoints.update(
                current,
                fields=fields,
                remove=[],
                new_name=name,
                model_configs=model_configs,
                updated_by=updated_by,
                now=get_current_time_millis(),
            )
        except Missing:
            raise _endpoint_missing(endpoint_id) from None
        except NameTaken:
            raise MlflowException(
                f"Endpoint with name '{name}' already exists", BAD_REQUEST
            ) from None
        except AlreadyAttached:
            raise MlflowException(
                "A model definition is listed twice with the same linkage type", BAD_REQUEST
            ) from None
        except ModelDefinitionGone:
            raise MlflowException(
                "A model definition was deleted meanwhile", RESOURCE_DOES_NOT_EXIST
            ) from None
        self._invalidate_secret_cache()
        return self.get_gateway_endpoint(endpoint_id=endpoint_id)

    def delete_gateway_endpoint(self, endpoint_id: str) -> None:
        current = self._read_endpoint(endpoint_id)
        try:
            self.ai_endpoints.delete(current)
        except Missing:
            raise _endpoint_missing(endpoint_id) from None
        # ON DELETE CASCADE: its bindings go too (after the endpoint, so none is added back)
        bindings = BindingRepository(self.gateway)
        bindings.delete_all(bindings.list(endpoint_id))
        self._invalidate_secret_cache()

    def list_gateway_endpoints(
        self, provider: str | None = None, secret_id: str | None = None
    ) -> list[GatewayEndpoint]:
        found = self.ai_endpoints.list()
        # the SQL store joins the mappings: an endpoint without models is not listed
        found = [e for e in found if e.mappings]
        if provider or secret_id:
            definitions = {d["model_definition_id"]: d for d in self.ai_model_definitions.list()}

            def matches(mapping: dict) -> bool:
                d = definitions.get(mapping["model_definition_id"])
                return (
                    d is not None
                    and (not provider or d.get("provider") == provider)
                    and (not secret_id or d.get("secret_id") == secret_id)
                )

            found = [e for e in found if any(matches(m) for m in e.mappings)]
        return self._endpoint_entities(found)

    # ---- model attachments -------------------------------------------------------------
    def attach_model_to_endpoint(
        self,
        endpoint_id: str,
        model_config: GatewayEndpointModelConfig,
        created_by: str | None = None,
    ) -> GatewayEndpointModelMapping:
        self._read_endpoint(endpoint_id)
        definition = self.ai_model_definitions.get(model_config.model_definition_id)
        if definition is None:
            raise not_found(
                "GatewayModelDefinition", model_definition_id=model_config.model_definition_id
            )
        try:
            mapping = self.ai_endpoints.attach(
                endpoint_id, model_config, created_by, get_current_time_millis()
            )
        except Missing:
            raise _endpoint_missing(endpoint_id) from None
        except ModelDefinitionGone:
            raise not_found(
                "GatewayModelDefinition", model_definition_id=model_config.model_definition_id
            ) from None
        except AlreadyAttached:
            raise MlflowException(
                f"Model definition '{model_config.model_definition_id}' is already attached to "
                f"endpoint '{endpoint_id}'",
                error_code=RESOURCE_ALREADY_EXISTS,
            ) from None
        self._invalidate_secret_cache()
        definitions = {definition["model_definition_id"]: definition}
        return entities.mapping(mapping, definitions, self._secret_names_for([definition]))

    def detach_model_from_endpoint(
        self, endpoint_id: str, model_definition_id: str, linkage_type: str | None = None
    ) -> None:
        try:
            self.ai_endpoints.detach(endpoint_id, model_definition_id, linkage_type)
        except Missing:
            raise MlflowException(
                f"GatewayEndpoint not found (endpoint_id='{endpoint_id}')",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None
        except AlreadyAttached:
            linkage_str = f" with linkage type '{linkage_type}'" if linkage_type else ""
            raise MlflowException(
                f"Model definition '{model_definition_id}' is not attached to "
                f"endpoint '{endpoint_id}'{linkage_str}",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None
        self._invalidate_secret_cache()

    # ---- tags --------------------------------------------------------------------------
    def set_gateway_endpoint_tag(self, endpoint_id: str, tag: GatewayEndpointTag) -> None:
        try:
            self.ai_endpoints.set_tag(endpoint_id, tag.key, tag.value)
        except Missing:
            raise _endpoint_missing(endpoint_id) from None

    def delete_gateway_endpoint_tag(self, endpoint_id: str, key: str) -> None:
        try:
            self.ai_endpoints.delete_tag(endpoint_id, key)
        except Missing:
            raise _endpoint_missing(endpoint_id) from None
