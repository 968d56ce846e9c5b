"""MCP access endpoints: each is two items written in one transaction, one in its server's
partition (read with the server) and one in the workspace's endpoints partition (get by
id, search across servers in id order)."""

from __future__ import annotations

from collections.abc import Iterator

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.repositories.mcp_servers.common import (
    Conflict,
    Item,
    McpRepository,
    Missing,
    compact,
    exists,
    live,
    not_exists,
)
from mlflow_dynamodbstore.schema import mcp_keys as mk
from mlflow_dynamodbstore.schema import table
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE


class EndpointRepository(McpRepository):
    def get(self, endpoint_id: str) -> Item | None:
        if not mk.plausible_id(endpoint_id):
            return None
        return self.gateway.get_item(mk.endpoint_key(self.workspace, endpoint_id))

    def all_endpoints(self) -> Iterator[Item]:
        condition = Key(table.PK).eq(mk.endpoints_pk(self.workspace)) & Key(table.SK).begins_with(
            mk.ENDPOINT_PREFIX
        )
        return self.gateway.query(condition, consistent=True)

    def _target_check(self, fields: Item, alias_target: str | None) -> list[dict]:
        """Conditions the endpoint's target must still meet when it is written: its
        version live; or its alias still naming the version it was resolved to, and that
        version live; or, for "latest", its server there."""
        ws = self.workspace
        name, version = fields["server_name"], fields.get("server_version")
        if version is not None:
            return [self.gateway.tx_check(mk.version_key(ws, name, version), live())]
        if alias_target is None:
            return [self.gateway.tx_check(mk.server_key(ws, name), exists())]
        alias = fields["server_alias"]
        return [
            self.gateway.tx_check(mk.alias_key(ws, name, alias), Attr("version").eq(alias_target)),
            self.gateway.tx_check(mk.version_key(ws, name, alias_target), live()),
        ]

    def _items(self, fields: Item) -> tuple[Item, Item]:
        ws = self.workspace
        endpoint_id = fields["endpoint_id"]
        body = compact({**fields, WORKSPACE_ATTRIBUTE: ws})
        for k in ("PK", "SK"):
            body.pop(k, None)
        in_server = {**body, **mk.server_endpoint_key(ws, fields["server_name"], endpoint_id)}
        in_workspace = {**body, **mk.endpoint_key(ws, endpoint_id)}
        return in_server, in_workspace

    def create(self, fields: Item, alias_target: str | None) -> Item:
        """``alias_target``: the version a stored alias named when it was resolved."""
        in_server, in_workspace = self._items(fields)
        checks = self._target_check(fields, alias_target)
        try:
            self.gateway.transact_write(
                [
                    *checks,
                    self.gateway.tx_put(in_server, not_exists()),
                    self.gateway.tx_put(in_workspace, not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Conflict(fields["server_name"]) from None
            raise
        return in_workspace

    def replace(self, current: Item, fields: Item, alias_target: str | None) -> Item:
        """Write the endpoint's new state, if it still has the update time it was read
        with."""
        merged = {k: v for k, v in {**current, **fields}.items() if v is not None}
        in_server, in_workspace = self._items(merged)
        unchanged = exists() & Attr("last_updated_at").eq(current["last_updated_at"])
        checks = self._target_check(merged, alias_target)
        try:
            self.gateway.transact_write(
                [
                    *checks,
                    self.gateway.tx_put(in_server, exists()),
                    self.gateway.tx_put(in_workspace, unchanged),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Conflict(current["endpoint_id"]) from None
            raise
        return in_workspace

    def delete(self, endpoint: Item) -> None:
        ws = self.workspace
        endpoint_id = endpoint["endpoint_id"]
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete(
                        mk.server_endpoint_key(ws, endpoint["server_name"], endpoint_id)
                    ),
                    self.gateway.tx_delete(mk.endpoint_key(ws, endpoint_id), exists()),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(endpoint_id) from None
            raise
