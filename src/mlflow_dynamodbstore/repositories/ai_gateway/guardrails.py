"""Gateway guardrails (a scorer version run before or after an endpoint's call) and their
per-endpoint configs.

A guardrail keeps a copy of its scorer version (``z``: the version's compressed serialized
scorer; versions never change), so reading one is one GetItem. Configs live in the
endpoint's key range (deleted with it, SQL's ON DELETE CASCADE); deleting a guardrail
deletes its configs (the same cascade) after one Query of the workspace's endpoints
partition.
"""

from __future__ import annotations

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    AlreadyAttached,
    Item,
    Missing,
    WorkspaceRepository,
    compact,
    exists,
    not_exists,
    partition,
)
from mlflow_dynamodbstore.schema import ai_gateway_keys as ak
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE


class EndpointGone(Exception):
    """The endpoint of a config does not exist."""


class GuardrailRepository(WorkspaceRepository):
    # ---- guardrails --------------------------------------------------------------------
    def get(self, guardrail_id: str) -> Item | None:
        return self._item(ak.guardrail_key, guardrail_id)

    def list(self) -> list[Item]:
        """Every guardrail of the workspace, by id (the sort key order)."""
        condition = partition(ak.guardrails_pk(self.workspace), ak.ID_PREFIX)
        return list(self.gateway.query(condition, consistent=True))

    def many(self, ids: set[str]) -> dict[str, Item]:
        return self._items(ak.guardrail_key, "guardrail_id", ids)

    def create(self, item: Item) -> Item:
        ws = self.workspace
        item = compact(
            {**ak.guardrail_key(ws, item["guardrail_id"]), **item, WORKSPACE_ATTRIBUTE: ws}
        )
        self.gateway.put_item(item, condition=not_exists())
        return item

    def delete(self, guardrail_id: str) -> None:
        if not ak.plausible_id(guardrail_id):
            raise Missing(guardrail_id)
        try:
            self.gateway.delete_item(
                ak.guardrail_key(self.workspace, guardrail_id), condition=exists()
            )
        except ConditionFailed:
            raise Missing(guardrail_id) from None
        # ON DELETE CASCADE: its configs on every endpoint of the workspace
        condition = partition(ak.endpoints_pk(self.workspace), ak.ENDPOINT_PREFIX)
        configs = [
            {"PK": i["PK"], "SK": i["SK"]}
            for i in self.gateway.query(
                condition, consistent=True, filter=Attr("guardrail_id").eq(guardrail_id)
            )
            if ak.item_kind(i["SK"]) == "guardrail"
        ]
        self.gateway.batch_write(deletes=configs)

    # ---- endpoint configs --------------------------------------------------------------
    def add(
        self,
        *,
        endpoint_id: str,
        guardrail_id: str,
        execution_order: int | None,
        created_by: str | None,
        now: int,
    ) -> Item:
        ws = self.workspace
        config = compact(
            {
                **ak.guardrail_config_key(ws, endpoint_id, guardrail_id),
                "endpoint_id": endpoint_id,
                "guardrail_id": guardrail_id,
                "execution_order": execution_order,
                "created_by": created_by,
                "created_at": now,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_check(ak.endpoint_key(ws, endpoint_id), exists()),
                    self.gateway.tx_check(ak.guardrail_key(ws, guardrail_id), exists()),
                    self.gateway.tx_put(config, not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise EndpointGone() from None
            if 1 in failed:
                raise Missing() from None
            if failed:
                raise AlreadyAttached() from None
            raise
        return config

    def config(self, endpoint_id: str, guardrail_id: str) -> Item | None:
        if not (ak.plausible_id(endpoint_id) and ak.plausible_id(guardrail_id)):
            return None
        return self.gateway.get_item(
            ak.guardrail_config_key(self.workspace, endpoint_id, guardrail_id)
        )

    def set_order(self, endpoint_id: str, guardrail_id: str, execution_order: int | None) -> Item:
        key = ak.guardrail_config_key(self.workspace, endpoint_id, guardrail_id)
        if execution_order is None:
            expression, names, values = "REMOVE #u_o", {"#u_o": "execution_order"}, None
        else:
            expression, names, values = (
                "SET #u_o = :u_o",
                {"#u_o": "execution_order"},
                {":u_o": execution_order},
            )
        try:
            return self.gateway.update_item(
                key,
                expression,
                names=names,
                values=values,
                condition=exists(),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise Missing() from None

    def remove(self, endpoint_id: str, guardrail_id: str) -> None:
        if not (ak.plausible_id(endpoint_id) and ak.plausible_id(guardrail_id)):
            raise Missing()
        try:
            self.gateway.delete_item(
                ak.guardrail_config_key(self.workspace, endpoint_id, guardrail_id),
                condition=exists(),
            )
        except ConditionFailed:
            raise Missing() from None
