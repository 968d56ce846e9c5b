"""Webhooks: ``WH#<id>`` / ``META`` items, listed per workspace by creation time (GSI1).

Secrets are stored Fernet-encrypted, as MLflow's SQL store does (its ``EncryptedString``
column), with the key from ``MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY``. When that variable is
unset MLflow generates a key per process, which would make secrets unreadable by every other
server sharing the table; here the fallback key is generated once per table instead and kept
in the ``CONFIG`` partition (set the variable in production to keep the key out of the table).
The API never returns the secret: the ``Webhook`` entity holds it for delivery, and its proto
form (what the REST API sends) has no secret field.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr
from cryptography.fernet import Fernet
from mlflow.entities.webhook import (
    Webhook,
    WebhookAction,
    WebhookEntity,
    WebhookEvent,
    WebhookStatus,
)
from mlflow.environment_variables import MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway
from mlflow_dynamodbstore.gateway.table_gateway import set_expression
from mlflow_dynamodbstore.schema import indexes, keys

Item = dict[str, Any]


class WebhookNotFound(Exception):
    pass


def event_key(event: WebhookEvent) -> str:
    return f"{event.entity.value}.{event.action.value}"


def _event_from_key(text: str) -> WebhookEvent:
    entity, action = text.split(".", 1)
    return WebhookEvent(WebhookEntity(entity), WebhookAction(action))


class WebhookRepository:
    def __init__(self, gateway: TableGateway):
        self.gateway = gateway
        self._cipher: Fernet | None = None
        self._lock = threading.Lock()

    # ---- secrets ---------------------------------------------------------------------
    def _fernet(self) -> Fernet:
        with self._lock:
            if self._cipher is None:
                key = MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY.get()
                if not key:
                    candidate = {**keys.webhook_secret_key_key(), "key": Fernet.generate_key()}
                    # The first server to get here wins; everyone then reads the same key.
                    with contextlib.suppress(ConditionFailed):
                        self.gateway.put_item(candidate, condition=Attr("PK").not_exists())
                    stored = self.gateway.get_item(keys.webhook_secret_key_key())
                    assert stored is not None
                    key = bytes(stored["key"])
                self._cipher = Fernet(key)
            return self._cipher

    def _encrypt(self, secret: str | None) -> bytes | None:
        return None if secret is None else self._fernet().encrypt(secret.encode())

    def _decrypt(self, token: Any) -> str | None:
        return None if token is None else self._fernet().decrypt(bytes(token)).decode()

    # ---- reads -----------------------------------------------------------------------
    def get(self, webhook_id: str) -> Item | None:
        if not isinstance(webhook_id, str) or not 0 < len(webhook_id.encode()) <= 1000:
            return None  # not an id we could have issued; DynamoDB would refuse the key
        item = self.gateway.get_item(keys.webhook_key(webhook_id))
        if item is None or item.get("deleted_timestamp") is not None:
            return None
        return item

    def list_in_workspace(self, workspace: str) -> Iterator[Item]:
        """Live webhooks of a workspace, newest first."""
        listing = indexes.WEBHOOKS_BY_CREATION
        return self.gateway.query(
            listing.pk_eq(keys.webhooks_gsi1pk(workspace)), index=listing.index, forward=False
        )

    # ---- writes ----------------------------------------------------------------------
    def create(self, *, webhook_id: str, workspace: str, fields: Item, secret: str | None) -> Item:
        item = {
            **keys.webhook_key(webhook_id),
            **keys.webhook_list_keys(workspace, fields["creation_timestamp"], webhook_id),
            "webhook_id": webhook_id,
            "workspace": workspace,
            **fields,
            "secret": self._encrypt(secret),
        }
        self.gateway.put_item(item, condition=Attr("PK").not_exists())
        return item

    def update(self, webhook_id: str, fields: Item, secret: str | None) -> Item:
        if secret is not None:
            fields = {**fields, "secret": self._encrypt(secret)}
        expr, names, values = set_expression(fields)
        try:
            attrs = self.gateway.update_item(
                keys.webhook_key(webhook_id),
                expr,
                names=names,
                values=values,
                condition=Attr("PK").exists() & Attr("deleted_timestamp").not_exists(),
                return_values="ALL_NEW",
            )
        except ConditionFailed:
            raise WebhookNotFound(webhook_id) from None
        assert attrs is not None
        return attrs

    def soft_delete(self, item: Item, now: int) -> None:
        """Keep the item (as the SQL store keeps the row) but move it from the live listing
        to the workspace's deleted one (a workspace delete still finds it)."""
        listing = keys.webhook_list_keys(
            item["workspace"], int(item["creation_timestamp"]), item["webhook_id"], deleted=True
        )
        fields = {"deleted_timestamp": now, "last_updated_timestamp": now, **listing}
        expression, names, values = set_expression(fields)
        webhook_id = item["webhook_id"]
        try:
            self.gateway.update_item(
                keys.webhook_key(webhook_id),
                expression,
                names=names,
                values=values,
                condition=Attr("PK").exists() & Attr("deleted_timestamp").not_exists(),
            )
        except ConditionFailed:
            raise WebhookNotFound(webhook_id) from None

    # ---- entities --------------------------------------------------------------------
    def to_webhook(self, item: Item) -> Webhook:
        return Webhook(
            webhook_id=item["webhook_id"],
            name=item["name"],
            url=item["url"],
            events=[_event_from_key(e) for e in item["events"]],
            creation_timestamp=int(item["creation_timestamp"]),
            last_updated_timestamp=int(item["last_updated_timestamp"]),
            workspace=item.get("workspace"),
            description=item.get("description"),
            status=WebhookStatus(item["status"]),
            secret=self._decrypt(item.get("secret")),
        )
