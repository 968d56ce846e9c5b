"""Endpoint bindings: which resource (e.g. a scorer) uses which endpoint, keyed as the SQL
store's primary key (endpoint, resource type, resource id), in one partition per workspace.
Deleting an endpoint deletes its bindings (SQL's ON DELETE CASCADE)."""

from __future__ import annotations

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    Item,
    Missing,
    NameTaken,
    WorkspaceRepository,
    by_creation,
    compact,
    exists,
    not_exists,
    partition,
)
from mlflow_dynamodbstore.schema import ai_gateway_keys as ak
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE


class BindingRepository(WorkspaceRepository):
    def list(self, endpoint_id: str | None = None) -> list[Item]:
        ws = self.workspace
        if endpoint_id is not None:
            if not ak.plausible_id(endpoint_id):
                return []
            prefix = ak.endpoint_bindings_prefix(endpoint_id)
        else:
            prefix = ak.BINDING_PREFIX
        items = self.gateway.query(partition(ak.bindings_pk(ws), prefix), consistent=True)
        return by_creation(
            [i for i in items if endpoint_id is None or i["endpoint_id"] == endpoint_id]
        )

    def create(
        self,
        *,
        endpoint_id: str,
        resource_type: str,
        resource_id: str,
        created_by: str | None,
        display_name: str | None,
        now: int,
        replace: bool = False,
    ) -> Item:
        """Put the binding if the endpoint exists (one transaction with that check)."""
        ws = self.workspace
        if not ak.plausible_id(endpoint_id):
            raise Missing(endpoint_id)
        item = compact(
            {
                **ak.binding_key(ws, endpoint_id, resource_type, resource_id),
                "endpoint_id": endpoint_id,
                "resource_type": resource_type,
                "resource_id": resource_id,
                "created_at": now,
                "last_updated_at": now,
                "created_by": created_by,
                "last_updated_by": created_by,
                "display_name": display_name,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_check(ak.endpoint_key(ws, endpoint_id), exists()),
                    self.gateway.tx_put(item, None if replace else not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise Missing(endpoint_id) from None
            if failed:
                raise NameTaken() from None
            raise
        return item

    def delete(self, endpoint_id: str, resource_type: str, resource_id: str) -> None:
        if not ak.plausible_id(endpoint_id):
            raise Missing()
        key = ak.binding_key(self.workspace, endpoint_id, resource_type, resource_id)
        try:
            self.gateway.delete_item(key, condition=exists())
        except ConditionFailed:
            raise Missing() from None

    def delete_all(self, items: list[Item]) -> None:
        self.gateway.batch_write(deletes=[{"PK": i["PK"], "SK": i["SK"]} for i in items])
