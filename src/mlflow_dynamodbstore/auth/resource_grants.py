"""Per-user grants on the AI gateway's secrets, endpoints and model definitions and on MCP
servers: the SQL store's per-resource methods for these four types share one shape (one id,
messages naming it), so they share one implementation here. A mixin of
``DynamoDBAuthStore``, on top of ``UserGrantsMixin`` (grants.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlflow.server.auth.entities import (
    GatewayEndpointPermission,
    GatewayModelDefinitionPermission,
    GatewaySecretPermission,
    MCPServerPermission,
)
from mlflow.server.auth.permissions import (
    RESOURCE_TYPE_GATEWAY_ENDPOINT,
    RESOURCE_TYPE_GATEWAY_MODEL_DEFINITION,
    RESOURCE_TYPE_GATEWAY_SECRET,
    RESOURCE_TYPE_MCP_SERVER,
    _validate_permission_for_resource_type,
)

from mlflow_dynamodbstore.auth.grants import UserGrantsMixin


@dataclass(frozen=True)
class _Kind:
    resource_type: str
    label: str  # "Gateway secret": the start of the SQL store's messages
    id_field: str  # "secret_id": how the messages name the resource id
    entity: type

    def duplicate(self, resource_id: str, username: str) -> str:
        return (
            f"{self.label} permission ({self.id_field}={resource_id}, username={username}) "
            "already exists."
        )

    def not_found(self, resource_id: str, username: str) -> str:
        return (
            f"{self.label} permission with {self.id_field}={resource_id} and "
            f"username={username} not found"
        )


SECRET = _Kind(RESOURCE_TYPE_GATEWAY_SECRET, "Gateway secret", "secret_id", GatewaySecretPermission)
ENDPOINT = _Kind(
    RESOURCE_TYPE_GATEWAY_ENDPOINT, "Gateway endpoint", "endpoint_id", GatewayEndpointPermission
)
MODEL_DEFINITION = _Kind(
    RESOURCE_TYPE_GATEWAY_MODEL_DEFINITION,
    "Gateway model definition",
    "model_definition_id",
    GatewayModelDefinitionPermission,
)
MCP_SERVER = _Kind(RESOURCE_TYPE_MCP_SERVER, "MCP server", "name", MCPServerPermission)


class ResourceGrantsMixin(UserGrantsMixin):
    def _kind_create(self, kind: _Kind, resource_id: str, username: str, permission: str) -> Any:
        _validate_permission_for_resource_type(permission, kind.resource_type)
        dup = kind.duplicate(resource_id, username)
        user_id, _ = self._create_grant(
            kind.resource_type, resource_id, username, permission, lambda _: dup
        )
        return kind.entity(resource_id, user_id, permission)

    def _kind_get(self, kind: _Kind, resource_id: str, username: str) -> Any:
        nf = kind.not_found(resource_id, username)
        user_id, _, item = self._grant_row(kind.resource_type, resource_id, username, lambda _: nf)
        return kind.entity(resource_id, user_id, item["permission"])

    def _kind_list(self, kind: _Kind, username: str) -> list[Any]:
        user_id, rows = self._list_grants(username, kind.resource_type, every_workspace=False)
        return [kind.entity(r["resource_pattern"], user_id, r["permission"]) for r in rows]

    def _kind_update(self, kind: _Kind, resource_id: str, username: str, permission: str) -> Any:
        nf = kind.not_found(resource_id, username)
        user_id, _ = self._update_grant(
            kind.resource_type, resource_id, username, permission, lambda _: nf
        )
        return kind.entity(resource_id, user_id, permission)

    def _kind_delete(self, kind: _Kind, resource_id: str, username: str) -> None:
        nf = kind.not_found(resource_id, username)
        self._delete_grant(kind.resource_type, resource_id, username, lambda _: nf)

    # ---- gateway secrets -----------------------------------------------------------------
    def create_gateway_secret_permission(self, secret_id: str, username: str, permission: str):
        return self._kind_create(SECRET, secret_id, username, permission)

    def get_gateway_secret_permission(self, secret_id: str, username: str):
        return self._kind_get(SECRET, secret_id, username)

    def list_gateway_secret_permissions(self, username: str):
        return self._kind_list(SECRET, username)

    def update_gateway_secret_permission(self, secret_id: str, username: str, permission: str):
        return self._kind_update(SECRET, secret_id, username, permission)

    def delete_gateway_secret_permission(self, secret_id: str, username: str) -> None:
        self._kind_delete(SECRET, secret_id, username)

    # ---- gateway endpoints ---------------------------------------------------------------
    def create_gateway_endpoint_permission(self, endpoint_id: str, username: str, permission: str):
        return self._kind_create(ENDPOINT, endpoint_id, username, permission)

    def get_gateway_endpoint_permission(self, endpoint_id: str, username: str):
        return self._kind_get(ENDPOINT, endpoint_id, username)

    def list_gateway_endpoint_permissions(self, username: str):
        return self._kind_list(ENDPOINT, username)

    def update_gateway_endpoint_permission(self, endpoint_id: str, username: str, permission: str):
        return self._kind_update(ENDPOINT, endpoint_id, username, permission)

    def delete_gateway_endpoint_permission(self, endpoint_id: str, username: str) -> None:
        self._kind_delete(ENDPOINT, endpoint_id, username)

    # ---- gateway model definitions -------------------------------------------------------
    def create_gateway_model_definition_permission(
        self, model_definition_id: str, username: str, permission: str
    ):
        return self._kind_create(MODEL_DEFINITION, model_definition_id, username, permission)

    def get_gateway_model_definition_permission(self, model_definition_id: str, username: str):
        return self._kind_get(MODEL_DEFINITION, model_definition_id, username)

    def list_gateway_model_definition_permissions(self, username: str):
        return self._kind_list(MODEL_DEFINITION, username)

    def update_gateway_model_definition_permission(
        self, model_definition_id: str, username: str, permission: str
    ):
        return self._kind_update(MODEL_DEFINITION, model_definition_id, username, permission)

    def delete_gateway_model_definition_permission(
        self, model_definition_id: str, username: str
    ) -> None:
        self._kind_delete(MODEL_DEFINITION, model_definition_id, username)

    # ---- MCP servers ---------------------------------------------------------------------
    def create_mcp_server_permission(self, name: str, username: str, permission: str):
        return self._kind_create(MCP_SERVER, name, username, permission)

    def get_mcp_server_permission(self, name: str, username: str):
        return self._kind_get(MCP_SERVER, name, username)

    def list_mcp_server_permissions(self, username: str):
        return self._kind_list(MCP_SERVER, username)

    def update_mcp_server_permission(self, name: str, username: str, permission: str):
        return self._kind_update(MCP_SERVER, name, username, permission)

    def delete_mcp_server_permission(self, name: str, username: str) -> None:
        self._kind_delete(MCP_SERVER, name, username)
