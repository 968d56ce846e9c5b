"""AI gateway endpoint bindings (which resource uses which endpoint), as the SQL store."""

from __future__ import annotations

from mlflow.entities import GatewayEndpointBinding
from mlflow.entities.gateway_endpoint import GatewayResourceType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    BAD_REQUEST,
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.ai_gateway.bindings import BindingRepository
from mlflow_dynamodbstore.repositories.ai_gateway.common import Item, Missing, NameTaken
from mlflow_dynamodbstore.stores.tracking.gateway_secret_ops import not_found


def _resource_type(value: str) -> GatewayResourceType:
    try:
        return GatewayResourceType(value)
    except ValueError:
        # the SQL store fails after writing (500); refusing first is clearer
        raise MlflowException(
            f"Invalid resource type '{value}'; expected one of "
            f"{[t.value for t in GatewayResourceType]}",
            INVALID_PARAMETER_VALUE,
        ) from None


def binding_entity(item: Item) -> GatewayEndpointBinding:
    return GatewayEndpointBinding(
        endpoint_id=item["endpoint_id"],
        resource_type=GatewayResourceType(item["resource_type"]),
        resource_id=item["resource_id"],
        created_at=int(item["created_at"]),
        last_updated_at=int(item["last_updated_at"]),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
        display_name=item.get("display_name"),
    )


class GatewayBindingOps:
    """Mixed into DynamoDBTrackingStore (``gateway``: the workspace-scoped table gateway)."""

    @property
    def ai_bindings(self) -> BindingRepository:
        return BindingRepository(self.gateway)

    def create_endpoint_binding(
        self,
        endpoint_id: str,
        resource_type: str,
        resource_id: str,
        created_by: str | None = None,
    ) -> GatewayEndpointBinding:
        kind = _resource_type(resource_type)
        try:
            item = self.ai_bindings.create(
                endpoint_id=endpoint_id,
                resource_type=kind.value,
                resource_id=resource_id,
                created_by=created_by,
                display_name=None,
                now=get_current_time_millis(),
            )
        except Missing:
            raise not_found("GatewayEndpoint", endpoint_id=endpoint_id) from None
        except NameTaken:
            # the SQL store surfaces its primary key so
            raise MlflowException(
                f"Endpoint '{endpoint_id}' is already bound to {kind.value} '{resource_id}'",
                BAD_REQUEST,
            ) from None
        self._invalidate_secret_cache()
        return binding_entity(item)

    def delete_endpoint_binding(
        self, endpoint_id: str, resource_type: str, resource_id: str
    ) -> None:
        try:
            self.ai_bindings.delete(endpoint_id, resource_type, resource_id)
        except Missing:
            raise MlflowException(
                f"GatewayEndpointBinding not found (endpoint_id='{endpoint_id}', "
                f"resource_type='{resource_type}', resource_id='{resource_id}')",
                RESOURCE_DOES_NOT_EXIST,
            ) from None
        self._invalidate_secret_cache()

    def list_endpoint_bindings(
        self,
        endpoint_id: str | None = None,
        resource_type: str | None = None,
        resource_id: str | None = None,
    ) -> list[GatewayEndpointBinding]:
        items = self.ai_bindings.list(endpoint_id)
        if resource_type is not None:
            items = [i for i in items if i["resource_type"] == resource_type]
        if resource_id is not None:
            items = [i for i in items if i["resource_id"] == resource_id]
        return [binding_entity(i) for i in items]
