"""MCP servers: the server item, its tags and aliases, and deleting a server whole.

Each write is one conditional write or transaction: a name is taken by a put conditioned
on the item not existing; a tag, alias or endpoint is written together with a check that
its server (version) still exists, so nothing is left hanging off a server deleted
meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.gateway import ConditionFailed, TransactionCancelled
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.mcp_servers.common import (
    Item,
    McpRepository,
    Missing,
    Taken,
    compact,
    exists,
    key_of,
    not_exists,
)
from mlflow_dynamodbstore.repositories.mcp_servers.state import dump_json
from mlflow_dynamodbstore.schema import mcp_keys as mk
from mlflow_dynamodbstore.schema import table
from mlflow_dynamodbstore.schema.keys import WORKSPACE_ATTRIBUTE


class ServerRepository(McpRepository):
    def server_fields(self, name: str, created_by: str | None, now: int) -> Item:
        return {
            **mk.server_key(self.workspace, name),
            "name": name,
            "created_at": now,
            "last_updated_at": now,
            "created_by": created_by,
            "last_updated_by": created_by,
            WORKSPACE_ATTRIBUTE: self.workspace,
        }

    def create(
        self, name: str, *, description: str | None, icons: Any, created_by: str | None, now: int
    ) -> Item:
        item = compact(
            {
                **self.server_fields(name, created_by, now),
                "description": description,
                "icons": dump_json(icons),
            }
        )
        try:
            self.gateway.put_item(item, condition=not_exists())
        except ConditionFailed:
            raise Taken(name) from None
        return item

    def update(self, name: str, fields: Item, remove: list[str]) -> None:
        expression, names, values = set_expression(fields)
        if remove:
            names.update({f"#u_r{i}": n for i, n in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#u_r{i}" for i in range(len(remove)))
        try:
            self.gateway.update_item(
                mk.server_key(self.workspace, name),
                expression,
                names=names,
                values=values,
                condition=exists(),
            )
        except ConditionFailed:
            raise Missing(name) from None

    def delete(self, name: str, items: list[Item]) -> None:
        """The server and everything in its partition (``items``, as just read: the SQL
        store's ON DELETE CASCADE), its endpoints' workspace copies included; the server
        item goes last, so an interrupted delete leaves a server that a second delete
        finishes."""
        ws = self.workspace
        actions = [
            self.gateway.tx_delete(mk.endpoint_key(ws, i["endpoint_id"]))
            for i in items
            if mk.server_item_kind(i["SK"]) == "endpoint"
        ]
        actions += [self.gateway.tx_delete(key_of(i)) for i in items]
        actions.append(self.gateway.tx_delete(mk.server_key(ws, name), exists()))
        try:
            self.write(actions)
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(name) from None
            raise

    def page(self, start_after: str | None, limit: int) -> tuple[list[Item], str | None]:
        """Servers in name order after ``start_after`` (one Query); the name to resume
        after when more may follow."""
        ws = self.workspace
        start = mk.server_key(ws, start_after) if start_after is not None else None
        condition = Key(table.PK).eq(mk.servers_pk(ws)) & Key(table.SK).begins_with(
            mk.SERVER_PREFIX
        )
        items, last = self.gateway.query_page(
            condition, limit=limit, start_key=start, consistent=True
        )
        return items, (items[-1]["name"] if last and items else None)

    def all_servers(self) -> Iterator[Item]:
        condition = Key(table.PK).eq(mk.servers_pk(self.workspace)) & Key(table.SK).begins_with(
            mk.SERVER_PREFIX
        )
        return self.gateway.query(condition, consistent=True)

    # ---- tags --------------------------------------------------------------------------
    def set_tag(self, name: str, key: str, value: str | None) -> None:
        ws = self.workspace
        tag = compact(
            {**mk.server_tag_key(ws, name, key), "name": name, "key": key, "value": value}
        )
        tag[WORKSPACE_ATTRIBUTE] = ws
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_check(mk.server_key(ws, name), exists()),
                    self.gateway.tx_put(tag),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(name) from None
            raise

    def delete_tag(self, name: str, key: str) -> None:
        try:
            self.gateway.delete_item(
                mk.server_tag_key(self.workspace, name, key), condition=exists()
            )
        except ConditionFailed:
            raise Missing(key) from None

    # ---- aliases -----------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: str) -> None:
        """The alias, checked against a live version (which also proves the server is
        there: versions go with their server)."""
        ws = self.workspace
        item = {
            **mk.alias_key(ws, name, alias),
            "name": name,
            "alias": alias,
            "version": version,
            WORKSPACE_ATTRIBUTE: ws,
        }
        self.put_beside_live_version(name, version, item)

    def delete_alias(self, name: str, alias: str, endpoints: list[Item]) -> None:
        """The alias with the endpoints that use it (the SQL store deletes them too)."""
        ws = self.workspace
        actions = [self.gateway.tx_delete(mk.alias_key(ws, name, alias), exists())]
        for endpoint in endpoints:
            actions.append(self.gateway.tx_delete(key_of(endpoint)))
            actions.append(self.gateway.tx_delete(mk.endpoint_key(ws, endpoint["endpoint_id"])))
        try:
            self.write(actions)
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(alias) from None
            raise
