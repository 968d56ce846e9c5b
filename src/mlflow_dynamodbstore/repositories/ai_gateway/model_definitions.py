"""Gateway model definitions: a provider model and the secret that pays for it.

A definition counts the endpoint attachments that reference it (``attached``), written in
the same transaction as each attach and detach, so deleting a definition that is in use is
refused by a condition on that count (the SQL store's foreign key without ON DELETE),
never by a read that could race an attach. Deleting a secret sets ``secret_id`` of its
definitions to nothing, as the SQL store's ON DELETE SET NULL.
"""

from __future__ import annotations

from typing import Any

from boto3.dynamodb.conditions import Attr

from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.repositories.ai_gateway.common import (
    InUse,
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


class SecretGone(Exception):
    """The secret a definition should reference was deleted meanwhile."""


def _not_attached() -> Any:
    return Attr("attached").not_exists() | Attr("attached").eq(0)


class ModelDefinitionRepository(WorkspaceRepository):
    # ---- reads -------------------------------------------------------------------------
    def get(self, model_definition_id: str) -> Item | None:
        return self._item(ak.model_definition_key, model_definition_id)

    def get_by_name(self, name: str) -> Item | None:
        guard = self.gateway.get_item(ak.model_definition_name_key(self.workspace, name))
        return self.get(guard["model_definition_id"]) if guard else None

    def list(self) -> list[Item]:
        condition = partition(ak.model_definitions_pk(self.workspace), ak.ID_PREFIX)
        return by_creation(list(self.gateway.query(condition, consistent=True)))

    def many(self, ids: set[str]) -> dict[str, Item]:
        """The definitions with these ids (one BatchGetItem per 100)."""
        return self._items(ak.model_definition_key, "model_definition_id", ids)

    # ---- writes ------------------------------------------------------------------------
    def create(
        self,
        *,
        model_definition_id: str,
        name: str,
        secret_id: str,
        provider: str,
        model_name: str,
        created_by: str | None,
        now: int,
    ) -> Item:
        ws = self.workspace
        item = compact(
            {
                **ak.model_definition_key(ws, model_definition_id),
                "model_definition_id": model_definition_id,
                "name": name,
                "secret_id": secret_id,
                "provider": provider,
                "model_name": model_name,
                "created_at": now,
                "last_updated_at": now,
                "created_by": created_by,
                "last_updated_by": created_by,
                "attached": 0,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        guard = {
            **ak.model_definition_name_key(ws, name),
            "model_definition_id": model_definition_id,
            "name": name,
        }
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_check(ak.secret_key(ws, secret_id), exists()),
                    self.gateway.tx_put(item, not_exists()),
                    self.gateway.tx_put(guard, not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise SecretGone(secret_id) from None
            if failed:
                raise NameTaken(name) from None
            raise
        return item

    def update(
        self,
        model_definition_id: str,
        *,
        current: Item,
        name: str | None,
        secret_id: str | None,
        model_name: str | None,
        provider: str | None,
        updated_by: str | None,
        now: int,
    ) -> Item:
        ws = self.workspace
        fields: Item = {"last_updated_at": now}
        for attribute, value in (
            ("name", name),
            ("secret_id", secret_id),
            ("model_name", model_name),
            ("provider", provider),
        ):
            if value is not None:
                fields[attribute] = value
        if updated_by:
            fields["last_updated_by"] = updated_by
        expression, names, values = set_expression(fields)
        key = ak.model_definition_key(ws, model_definition_id)
        actions = [
            self.gateway.tx_update(key, expression, names=names, values=values, condition=exists())
        ]
        renamed = name is not None and name != current["name"]
        if renamed:
            actions.append(
                self.gateway.tx_delete(ak.model_definition_name_key(ws, current["name"]))
            )
            actions.append(
                self.gateway.tx_put(
                    {
                        **ak.model_definition_name_key(ws, name),
                        "model_definition_id": model_definition_id,
                        "name": name,
                    },
                    not_exists(),
                )
            )
        if secret_id is not None:
            actions.append(self.gateway.tx_check(ak.secret_key(ws, secret_id), exists()))
        try:
            self.gateway.transact_write(actions)
        except TransactionCancelled as exc:
            failed = exc.failed_conditions()
            if 0 in failed:
                raise Missing(model_definition_id) from None
            if renamed and 2 in failed:
                raise NameTaken(name) from None
            if failed:
                raise SecretGone(secret_id) from None
            raise
        updated = self.get(model_definition_id)
        if updated is None:
            raise Missing(model_definition_id)
        return updated

    def delete(self, model_definition_id: str) -> None:
        current = self.get(model_definition_id)
        if current is None:
            raise Missing(model_definition_id)
        ws = self.workspace
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete(
                        ak.model_definition_key(ws, model_definition_id),
                        exists() & _not_attached(),
                    ),
                    self.gateway.tx_delete(ak.model_definition_name_key(ws, current["name"])),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                if self.get(model_definition_id) is None:
                    raise Missing(model_definition_id) from None
                raise InUse(model_definition_id) from None
            raise

    def clear_secret(self, secret_id: str) -> None:
        """ON DELETE SET NULL: the definitions that referenced a deleted secret keep no
        secret (one strongly consistent Query of the workspace's definitions, one update
        each; a definition created after the secret's deletion cannot reference it, its
        transaction checks that the secret exists)."""
        for item in self.list():
            if item.get("secret_id") != secret_id:
                continue
            try:
                self.gateway.update_item(
                    ak.model_definition_key(self.workspace, item["model_definition_id"]),
                    "REMOVE #u_r0",
                    names={"#u_r0": "secret_id"},
                    condition=Attr("secret_id").eq(secret_id),
                )
            except ConditionFailed:
                continue  # changed meanwhile: it no longer references this secret
