"""What the AI gateway repositories share: their errors and small item helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boto3.dynamodb.conditions import Attr, Key

from mlflow_dynamodbstore.schema import ai_gateway_keys as ak
from mlflow_dynamodbstore.schema import table

Item = dict[str, Any]


class WorkspaceRepository:
    """A repository of one workspace's gateway items: its partitions are keyed by the scope
    of the (scoped) table gateway it is given."""

    def __init__(self, gateway):
        self.gateway = gateway

    @property
    def workspace(self) -> str:
        return self.gateway.scope

    def _item(self, key: Callable[[str, str], Item], item_id: str) -> Item | None:
        """The item with this id (one consistent GetItem); an id no key can hold names none."""
        if not ak.plausible_id(item_id):
            return None
        return self.gateway.get_item(key(self.workspace, item_id))

    def _items(self, key: Callable[[str, str], Item], id_attribute: str, ids: set[str]) -> dict:
        """id -> item for the ids that exist (one consistent BatchGetItem per 100)."""
        keys = [key(self.workspace, i) for i in ids if ak.plausible_id(i)]
        items = self.gateway.batch_get(keys, consistent=True) if keys else []
        return {i[id_attribute]: i for i in items}


class Missing(Exception):
    """The item (secret, model definition, endpoint, mapping) does not exist here."""


class NameTaken(Exception):
    """Another item of the workspace already has that name."""


class InUse(Exception):
    """The model definition is still attached to an endpoint."""


class AlreadyAttached(Exception):
    """The model definition is already attached to the endpoint with that linkage type."""


def exists() -> Any:
    return Attr(table.PK).exists()


def not_exists() -> Any:
    return Attr(table.PK).not_exists()


def partition(pk: str, prefix: str) -> Any:
    return Key(table.PK).eq(pk) & Key(table.SK).begins_with(prefix)


def compact(fields: Item) -> Item:
    """Drop None values: an absent attribute reads back as None."""
    return {k: v for k, v in fields.items() if v is not None}


def by_creation(items: list[Item]) -> list[Item]:
    """The SQL store lists in insertion order; creation time (then id) is ours."""
    return sorted(items, key=lambda i: (int(i.get("created_at", 0)), i.get("position", 0)))
