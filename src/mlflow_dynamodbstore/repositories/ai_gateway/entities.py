"""AI gateway items to MLflow entities (what the SQL store's ``to_mlflow_entity`` builds).

Secret entities are built from an allow-list of attributes: the ciphertext and wrapped
key never leave the repository layer.
"""

from __future__ import annotations

import json
from typing import Any

from mlflow.entities import (
    FallbackConfig,
    GatewayEndpoint,
    GatewayEndpointModelMapping,
    GatewayEndpointTag,
    GatewayModelDefinition,
    GatewaySecretInfo,
    RoutingStrategy,
)
from mlflow.entities.gateway_endpoint import FallbackStrategy, GatewayModelLinkageType

from mlflow_dynamodbstore.repositories.ai_gateway.common import Item
from mlflow_dynamodbstore.repositories.ai_gateway.endpoints import Endpoint


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def secret_info(item: Item) -> GatewaySecretInfo:
    try:
        masked = json.loads(item["masked_value"])
    except (json.JSONDecodeError, TypeError, KeyError):
        masked = {"value": "***"}
    return GatewaySecretInfo(
        secret_id=item["secret_id"],
        secret_name=item["secret_name"],
        masked_values=masked,
        created_at=int(item["created_at"]),
        last_updated_at=int(item["last_updated_at"]),
        provider=item.get("provider"),
        auth_config=json.loads(item["auth_config"]) if item.get("auth_config") else None,
        workspace=item.get("workspace"),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
    )


def model_definition(item: Item, secret_names: dict[str, str]) -> GatewayModelDefinition:
    # a secret deleted before its references were cleared reads as none (SET NULL)
    secret_id = item.get("secret_id")
    secret_name = secret_names.get(secret_id) if secret_id else None
    return GatewayModelDefinition(
        model_definition_id=item["model_definition_id"],
        name=item["name"],
        secret_id=secret_id if secret_name is not None else None,
        secret_name=secret_name,
        provider=item["provider"],
        model_name=item["model_name"],
        created_at=int(item["created_at"]),
        last_updated_at=int(item["last_updated_at"]),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
        workspace=item.get("workspace"),
    )


def mapping(
    item: Item, definitions: dict[str, Item], secret_names: dict[str, str]
) -> GatewayEndpointModelMapping:
    definition = definitions.get(item["model_definition_id"])
    return GatewayEndpointModelMapping(
        mapping_id=item["mapping_id"],
        endpoint_id=item["endpoint_id"],
        model_definition_id=item["model_definition_id"],
        model_definition=model_definition(definition, secret_names) if definition else None,
        weight=float(item["weight"]),
        linkage_type=GatewayModelLinkageType(item["linkage_type"]),
        fallback_order=_int(item.get("fallback_order")),
        created_at=int(item["created_at"]),
        created_by=item.get("created_by"),
    )


def _fallback_config(raw: str | None) -> FallbackConfig | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
        return FallbackConfig(
            strategy=FallbackStrategy(data["strategy"]) if data.get("strategy") else None,
            max_attempts=data.get("max_attempts"),
        )
    except (json.JSONDecodeError, TypeError):
        return None


def endpoint(
    found: Endpoint, definitions: dict[str, Item], secret_names: dict[str, str]
) -> GatewayEndpoint:
    item = found.item
    return GatewayEndpoint(
        endpoint_id=item["endpoint_id"],
        name=item.get("name"),
        model_mappings=[mapping(m, definitions, secret_names) for m in found.mappings],
        tags=[GatewayEndpointTag(key=t["key"], value=t.get("value")) for t in found.tags],
        created_at=int(item["created_at"]),
        last_updated_at=int(item["last_updated_at"]),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
        routing_strategy=RoutingStrategy(item["routing_strategy"])
        if item.get("routing_strategy")
        else None,
        fallback_config=_fallback_config(item.get("fallback_config_json")),
        experiment_id=item.get("experiment_id"),
        usage_tracking=bool(item.get("usage_tracking", True)),
        workspace=item.get("workspace"),
    )
