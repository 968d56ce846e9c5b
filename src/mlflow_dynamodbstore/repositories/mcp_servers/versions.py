"""MCP server versions and their tags.

A version is unique per server by its version string: one put conditioned on the item not
existing, in a transaction that also checks (or creates) the server, so two servers racing
on the same version get exactly one winner and a version never outlives its server.
Deleting a version keeps its item with status ``deleted`` (the SQL store keeps the row:
the version string stays taken) and removes the aliases and endpoints that reached it.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import ConditionFailed, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.mcp_servers.common import (
    Conflict,
    Item,
    McpRepository,
    Missing,
    Taken,
    compact,
    exists,
    key_of,
    not_exists,
)
from mlflow_dynamodbstore.repositories.mcp_servers.servers import ServerRepository
from mlflow_dynamodbstore.schema import mcp_keys as mk
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE

_CREATE_ATTEMPTS = 5


class VersionRepository(McpRepository):
    def create(self, name: str, version: str, fields: Item, created_by: str | None, now: int):
        """Put the version; create its server first when there is none (as the SQL store
        does). Raises Taken when the version exists (deleted ones included)."""
        ws = self.workspace
        item = compact(
            {
                **mk.version_key(ws, name, version),
                "name": name,
                "version": version,
                **fields,
                "created_by": created_by,
                "last_updated_by": created_by,
                "created_at": now,
                "last_updated_at": now,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        servers = ServerRepository(self.gateway)
        for _ in range(_CREATE_ATTEMPTS):
            server_exists = self.server_item(name) is not None
            if server_exists:
                server_action = self.gateway.tx_check(mk.server_key(ws, name), exists())
            else:
                server = compact(servers.server_fields(name, created_by, now))
                server_action = self.gateway.tx_put(server, not_exists())
            try:
                self.gateway.transact_write(
                    [server_action, self.gateway.tx_put(item, not_exists())]
                )
                return item
            except TransactionCancelled as exc:
                failed = self.failed(exc)
                if 1 in failed:
                    raise Taken(version) from None
                if 0 not in failed:
                    raise
                # The server came or went meanwhile: look again.
        raise Conflict(name)

    def update(self, name: str, current: Item, fields: Item, remove: list[str]) -> None:
        """Set ``fields`` if the version still has the status it was read with."""
        expression, names, values = set_expression(fields)
        if remove:
            names.update({f"#u_r{i}": n for i, n in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#u_r{i}" for i in range(len(remove)))
        try:
            self.gateway.update_item(
                key_of(current),
                expression,
                names=names,
                values=values,
                condition=exists() & Attr("status").eq(current["status"]),
            )
        except ConditionFailed:
            raise Conflict(name) from None

    def delete(
        self,
        name: str,
        current: Item,
        now: int,
        aliases: list[str],
        endpoints: list[Item],
    ) -> None:
        """Mark the version deleted and remove the aliases naming it and the endpoints
        reaching it (directly or through those aliases)."""
        ws = self.workspace
        actions = [self.gateway.tx_delete(mk.alias_key(ws, name, a)) for a in aliases]
        for endpoint in endpoints:
            actions.append(self.gateway.tx_delete(key_of(endpoint)))
            actions.append(self.gateway.tx_delete(mk.endpoint_key(ws, endpoint["endpoint_id"])))
        actions.append(
            self.gateway.tx_update(
                key_of(current),
                "SET #u_st = :u_st, #u_t = :u_t",
                names={"#u_st": "status", "#u_t": "last_updated_at"},
                values={":u_st": "deleted", ":u_t": now},
                condition=exists() & Attr("status").eq(current["status"]),
            )
        )
        try:
            self.write(actions)
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Conflict(name) from None
            raise

    def delete_endpoints(self, endpoints: list[Item]) -> None:
        ws = self.workspace
        actions = []
        for endpoint in endpoints:
            actions.append(self.gateway.tx_delete(key_of(endpoint)))
            actions.append(self.gateway.tx_delete(mk.endpoint_key(ws, endpoint["endpoint_id"])))
        self.write(actions)

    # ---- version tags --------------------------------------------------------------------
    def set_tag(self, name: str, version: str, key: str, value: Any) -> None:
        ws = self.workspace
        tag = compact(
            {
                **mk.version_tag_key(ws, name, version, key),
                "name": name,
                "version": version,
                "key": key,
                "value": value,
            }
        )
        tag[WORKSPACE_ATTRIBUTE] = ws
        self.put_beside_live_version(name, version, tag)

    def delete_tag(self, name: str, version: str, key: str) -> None:
        try:
            self.gateway.delete_item(
                mk.version_tag_key(self.workspace, name, version, key), condition=exists()
            )
        except ConditionFailed:
            raise Missing(key) from None
