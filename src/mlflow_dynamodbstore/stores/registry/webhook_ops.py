"""Webhook operations of the registry store facade (as MLflow's SqlAlchemyStore does them)."""

from __future__ import annotations

import uuid

from mlflow.entities.webhook import Webhook, WebhookEvent, WebhookStatus, WebhookTestResult
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.search_utils import SearchUtils
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.validation import (
    _validate_webhook_events,
    _validate_webhook_name,
    _validate_webhook_url,
)
from mlflow_dynamodbstore.repositories.registry.webhooks import (
    WebhookNotFound,
    WebhookRepository,
    event_key,
)


def webhook_not_found(webhook_id: str) -> MlflowException:
    return MlflowException(f"Webhook with ID {webhook_id} not found.", RESOURCE_DOES_NOT_EXIST)


def _event_keys(events: list[WebhookEvent]) -> list[str]:
    # Order kept, duplicates dropped (the SQL store's (id, entity, action) primary key).
    return list(dict.fromkeys(event_key(e) for e in events))


def _page_size(max_results: int | None) -> int:
    max_results = max_results or 100
    if max_results < 1 or max_results > 1000:
        raise MlflowException("max_results must be between 1 and 1000.", INVALID_PARAMETER_VALUE)
    return max_results


def _paged(webhooks: list[Webhook], max_results: int, page_token: str | None) -> PagedList:
    offset = SearchUtils.parse_start_offset_from_page_token(page_token)
    rows = webhooks[offset : offset + max_results + 1]
    token = None
    if len(rows) > max_results:
        rows = rows[:max_results]
        token = SearchUtils.create_page_token(offset + max_results)
    return PagedList(rows, token)


class WebhookOps:
    """Mixed into DynamoDBRegistryStore, which provides ``webhooks`` and
    ``_get_active_workspace``."""

    webhooks: WebhookRepository

    def _webhook_item(self, webhook_id: str) -> dict:
        item = self.webhooks.get(webhook_id)
        if item is None:
            raise webhook_not_found(webhook_id)
        return item

    def create_webhook(
        self,
        name: str,
        url: str,
        events: list[WebhookEvent],
        description: str | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        _validate_webhook_name(name)
        _validate_webhook_url(url)
        _validate_webhook_events(events)
        now = get_current_time_millis()
        item = self.webhooks.create(
            webhook_id=str(uuid.uuid4()),
            workspace=self._get_active_workspace(),
            fields={
                "name": name,
                "url": url,
                "events": _event_keys(events),
                "description": description,
                "status": (status or WebhookStatus.ACTIVE).value,
                "creation_timestamp": now,
                "last_updated_timestamp": now,
            },
            secret=secret,
        )
        return self.webhooks.to_webhook(item)

    def get_webhook(self, webhook_id: str) -> Webhook:
        return self.webhooks.to_webhook(self._webhook_item(webhook_id))

    def list_webhooks(
        self, max_results: int | None = None, page_token: str | None = None
    ) -> PagedList[Webhook]:
        size = _page_size(max_results)
        items = self.webhooks.list_in_workspace(self._get_active_workspace())
        return _paged([self.webhooks.to_webhook(i) for i in items], size, page_token)

    def list_webhooks_by_event(
        self,
        event: WebhookEvent,
        max_results: int | None = None,
        page_token: str | None = None,
    ) -> PagedList[Webhook]:
        size = _page_size(max_results)
        wanted = event_key(event)
        items = self.webhooks.list_in_workspace(self._get_active_workspace())
        matching = [self.webhooks.to_webhook(i) for i in items if wanted in i["events"]]
        return _paged(matching, size, page_token)

    def update_webhook(
        self,
        webhook_id: str,
        name: str | None = None,
        description: str | None = None,
        url: str | None = None,
        events: list[WebhookEvent] | None = None,
        secret: str | None = None,
        status: WebhookStatus | None = None,
    ) -> Webhook:
        self._webhook_item(webhook_id)
        fields: dict = {}
        if name is not None:
            _validate_webhook_name(name)
            fields["name"] = name
        if url is not None:
            _validate_webhook_url(url)
            fields["url"] = url
        if events is not None:
            _validate_webhook_events(events)
            fields["events"] = _event_keys(events)
        if description is not None:
            fields["description"] = description
        if status is not None:
            fields["status"] = status.value
        fields["last_updated_timestamp"] = get_current_time_millis()
        try:
            item = self.webhooks.update(webhook_id, fields, secret)
        except WebhookNotFound:
            raise webhook_not_found(webhook_id) from None
        return self.webhooks.to_webhook(item)

    def delete_webhook(self, webhook_id: str) -> None:
        item = self._webhook_item(webhook_id)
        try:
            self.webhooks.soft_delete(item, get_current_time_millis())
        except WebhookNotFound:
            raise webhook_not_found(webhook_id) from None

    def test_webhook(self, webhook_id: str, event: WebhookEvent | None = None) -> WebhookTestResult:
        from mlflow.webhooks.delivery import test_webhook

        return test_webhook(self.get_webhook(webhook_id), event)
