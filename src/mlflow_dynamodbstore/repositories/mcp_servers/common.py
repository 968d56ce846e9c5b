"""What the MCP server registry repositories share: errors, the workspace base, reading a
server whole."""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.limits import TRANSACTION_LIMIT
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    WorkspaceRepository,
    compact,
    exists,
    not_exists,
)
from mlflow_dynamodbstore.repositories.mcp_servers.state import DELETED, Item, ServerState
from mlflow_dynamodbstore.schema import mcp_keys as mk
from mlflow_dynamodbstore.schema import table

__all__ = [
    "Conflict",
    "Item",
    "McpRepository",
    "Missing",
    "Taken",
    "compact",
    "exists",
    "live",
    "not_exists",
]


class Missing(Exception):
    """The server (version, alias, endpoint) is not there, or went away meanwhile."""


class Taken(Exception):
    """The name (version) is taken."""


class Conflict(Exception):
    """What the write was checked against changed meanwhile (a concurrent writer)."""


def live() -> Any:
    """A version that exists and is not deleted."""
    return Attr(table.PK).exists() & Attr("status").ne(DELETED)


def key_of(item: Item) -> Item:
    return {table.PK: item[table.PK], table.SK: item[table.SK]}


class McpRepository(WorkspaceRepository):
    # ---- reads -------------------------------------------------------------------------
    def server_item(self, name: str) -> Item | None:
        return self.gateway.get_item(mk.server_key(self.workspace, name))

    def version_item(self, name: str, version: str) -> Item | None:
        """The version's item, deleted ones included."""
        return self.gateway.get_item(mk.version_key(self.workspace, name, version))

    def partition_items(self, name: str) -> list[Item]:
        pk = mk.server_items_pk(self.workspace, name)
        return list(self.gateway.query(Key(table.PK).eq(pk), consistent=True))

    def state(self, name: str) -> ServerState | None:
        """The server with its versions, aliases, tags and endpoints (a GetItem and a
        Query), or None."""
        server = self.server_item(name)
        if server is None:
            return None
        return ServerState.of(server, self.partition_items(name))

    def states(self, servers: list[Item]) -> list[ServerState]:
        return [ServerState.of(s, self.partition_items(s["name"])) for s in servers]

    # ---- writes ------------------------------------------------------------------------
    def write(self, actions: list[dict]) -> None:
        """One transaction when it fits, else the batches in order (the last action, the
        one that makes the change visible, written last)."""
        if len(actions) <= TRANSACTION_LIMIT:
            self.gateway.transact_write(actions)
            return
        for start in range(0, len(actions), TRANSACTION_LIMIT):
            self.gateway.transact_write(actions[start : start + TRANSACTION_LIMIT])

    def put_beside_live_version(self, name: str, version: str, item: Item) -> None:
        """Put ``item`` (an alias, a version tag) only while the version it names is live
        (which also proves the server is there: versions go with their server)."""
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_check(mk.version_key(self.workspace, name, version), live()),
                    self.gateway.tx_put(item),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(version) from None
            raise

    @staticmethod
    def failed(exc: TransactionCancelled) -> set[int]:
        return set(exc.failed_conditions())
