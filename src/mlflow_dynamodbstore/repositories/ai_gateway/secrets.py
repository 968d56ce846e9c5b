"""Gateway secrets: envelope-encrypted exactly as MLflow's SQL store does it.

The value is encrypted with ``mlflow.utils.crypto._encrypt_secret`` (AES-256-GCM under a
fresh data key, the data key wrapped by the key-encryption key that ``KEKManager`` derives
from ``MLFLOW_CRYPTO_KEK_PASSPHRASE`` / ``MLFLOW_CRYPTO_KEK_VERSION``, the secret's id and
name bound in as AAD). The item holds only the ciphertext, the wrapped key, the KEK
version and MLflow's masked value; the plaintext never reaches the table, a log or an
error. Secret names are immutable (they are part of the AAD), as in MLflow.
"""

from __future__ import annotations

import json
from typing import Any

from mlflow.utils.crypto import KEKManager

from mlflow_dynamodbstore.compat.helpers import _decrypt_secret, _encrypt_secret, _mask_secret_value
from mlflow_dynamodbstore.gateway import TransactionCancelled
from mlflow_dynamodbstore.gateway.errors import ConditionFailed
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
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

# Attributes that carry key material; never copied into an entity.
SENSITIVE_ATTRIBUTES = ("encrypted_value", "wrapped_dek")


def _encrypted_fields(secret_id: str, secret_name: str, value: dict[str, str]) -> Item:
    encrypted = _encrypt_secret(
        secret_value=json.dumps(value),
        kek_manager=KEKManager(),
        secret_id=secret_id,
        secret_name=secret_name,
    )
    return {
        "encrypted_value": encrypted.encrypted_value,
        "wrapped_dek": encrypted.wrapped_dek,
        "kek_version": encrypted.kek_version,
        "masked_value": json.dumps(_mask_secret_value(value)),
    }


def decrypt(item: Item) -> Any:
    """The plaintext of a secret item (server side only: what the gateway sends a
    provider). Raises MLflow's own error if the KEK or the AAD does not match."""
    return _decrypt_secret(
        encrypted_value=bytes(item["encrypted_value"]),
        wrapped_dek=bytes(item["wrapped_dek"]),
        kek_manager=KEKManager(),
        secret_id=item["secret_id"],
        secret_name=item["secret_name"],
    )


class SecretRepository(WorkspaceRepository):
    # ---- reads -------------------------------------------------------------------------
    def get(self, secret_id: str) -> Item | None:
        return self._item(ak.secret_key, secret_id)

    def get_by_name(self, name: str) -> Item | None:
        guard = self.gateway.get_item(ak.secret_name_key(self.workspace, name))
        return self.get(guard["secret_id"]) if guard else None

    def list(self) -> list[Item]:
        condition = partition(ak.secrets_pk(self.workspace), ak.ID_PREFIX)
        return by_creation(list(self.gateway.query(condition, consistent=True)))

    def names(self, secret_ids: set[str]) -> dict[str, str]:
        """secret id -> name for the ids that exist (one Query for many, GetItem for one)."""
        wanted = {i for i in secret_ids if i}
        if not wanted:
            return {}
        if len(wanted) == 1:
            item = self.get(next(iter(wanted)))
            return {item["secret_id"]: item["secret_name"]} if item else {}
        return {i["secret_id"]: i["secret_name"] for i in self.list() if i["secret_id"] in wanted}

    def many(self, secret_ids: set[str]) -> dict[str, Item]:
        """secret id -> item (with its ciphertext: for ``decrypt`` only) for the ids that
        exist (one consistent BatchGetItem per 100)."""
        return self._items(ak.secret_key, "secret_id", {i for i in secret_ids if i})

    # ---- writes ------------------------------------------------------------------------
    def create(
        self,
        *,
        secret_id: str,
        name: str,
        value: dict[str, str],
        provider: str | None,
        auth_config: dict[str, Any] | None,
        created_by: str | None,
        now: int,
    ) -> Item:
        ws = self.workspace
        item = compact(
            {
                **ak.secret_key(ws, secret_id),
                "secret_id": secret_id,
                "secret_name": name,
                **_encrypted_fields(secret_id, name, value),
                "provider": provider,
                "auth_config": json.dumps(auth_config) if auth_config else None,
                "created_at": now,
                "last_updated_at": now,
                "created_by": created_by,
                "last_updated_by": created_by,
                WORKSPACE_ATTRIBUTE: ws,
            }
        )
        guard = {**ak.secret_name_key(ws, name), "secret_id": secret_id, "secret_name": name}
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_put(item, not_exists()),
                    self.gateway.tx_put(guard, not_exists()),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise NameTaken(name) from None
            raise
        return item

    def update(
        self,
        secret_id: str,
        *,
        value: dict[str, str] | None,
        auth_config: dict[str, Any] | None,
        updated_by: str | None,
        now: int,
    ) -> Item:
        current = self.get(secret_id)
        if current is None:
            raise Missing(secret_id)
        fields: Item = {"last_updated_at": now}
        if value is not None:
            fields.update(_encrypted_fields(secret_id, current["secret_name"], value))
        remove = []
        if auth_config is not None:
            if auth_config:
                fields["auth_config"] = json.dumps(auth_config)
            else:
                remove.append("auth_config")
        if updated_by is not None:
            fields["last_updated_by"] = updated_by
        else:
            remove.append("last_updated_by")
        expression, names, values = set_expression(fields)
        if remove:
            names.update({f"#u_r{i}": n for i, n in enumerate(remove)})
            expression += " REMOVE " + ", ".join(f"#u_r{i}" for i in range(len(remove)))
        try:
            return self.gateway.update_item(
                ak.secret_key(self.workspace, secret_id),
                expression,
                names=names,
                values=values,
                condition=exists(),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise Missing(secret_id) from None

    def delete(self, secret_id: str) -> Item:
        """Delete the secret and its name guard; returns the deleted item."""
        current = self.get(secret_id)
        if current is None:
            raise Missing(secret_id)
        ws = self.workspace
        try:
            self.gateway.transact_write(
                [
                    self.gateway.tx_delete(ak.secret_key(ws, secret_id), exists()),
                    self.gateway.tx_delete(ak.secret_name_key(ws, current["secret_name"])),
                ]
            )
        except TransactionCancelled as exc:
            if exc.is_condition_failure:
                raise Missing(secret_id) from None
            raise
        return current
