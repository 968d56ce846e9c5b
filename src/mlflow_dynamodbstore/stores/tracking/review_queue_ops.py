"""Review queues and their items (MLflow's ``mlflow.genai.review_queues``), as the SQL store
serves them: MLflow's own validation and normalisation, the same errors and orders."""

from __future__ import annotations

import logging
import uuid

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
    ErrorCode,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.labeling.queue_items import (
    ItemChanged,
    QueueGone,
    QueueItemRepository,
    to_review_queue_item,
)
from mlflow_dynamodbstore.repositories.labeling.review_queues import (
    QueueChanged,
    QueueNameTaken,
    ReviewQueueRepository,
)
from mlflow_dynamodbstore.stores.tracking.labeling_ops import validate_max_results

_logger = logging.getLogger(__name__)
QUEUE_ID_PREFIX = "rq-"
_STATUS_RETRIES = 5


def _queue_not_found(queue_id: str) -> MlflowException:
    return MlflowException(
        f"Review queue with id '{queue_id}' not found.", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _queue_name_taken(name: str) -> MlflowException:
    return MlflowException(
        f"Review queue with name '{name}' already exists (names are case-insensitive).",
        error_code=RESOURCE_ALREADY_EXISTS,
    )


def _questions_locked() -> MlflowException:
    return MlflowException(
        "A review queue's questions are locked once items are assigned to it. "
        "Remove the items before changing its questions.",
        error_code=INVALID_PARAMETER_VALUE,
    )


def to_review_queue(item: dict):
    from mlflow.genai.review_queues import ReviewQueue, ReviewQueueType

    return ReviewQueue(
        queue_id=item["queue_id"],
        experiment_id=str(item["experiment_id"]),
        name=item["name"],
        queue_type=ReviewQueueType(item["queue_type"]),
        created_by=item.get("created_by"),
        creation_time_ms=int(item["creation_time_ms"]),
        last_update_time_ms=int(item["last_update_time_ms"]),
        users=list(item.get("users") or []),
        schema_ids=list(item.get("schema_ids") or []),
    )


class ReviewQueueOps:
    """Mixed into DynamoDBTrackingStore, which provides ``review_queues``, ``queue_items``,
    ``label_schemas``, ``_labeling_experiment_id`` and ``_get_active_workspace``."""

    review_queues: ReviewQueueRepository
    queue_items: QueueItemRepository

    def _queue_item(self, queue_id) -> dict:
        item = self.review_queues.get(queue_id)
        if item is None:
            raise _queue_not_found(queue_id)
        return item

    def _validate_schema_ids_exist(self, experiment_id: str, schema_ids: list[str]) -> None:
        if not schema_ids:
            return
        found = self.label_schemas.existing_ids(experiment_id, schema_ids)
        if missing := [s for s in schema_ids if s not in found]:
            raise MlflowException(
                f"Label schema id(s) {missing} not found for experiment '{experiment_id}'.",
                error_code=INVALID_PARAMETER_VALUE,
            )

    def create_review_queue(
        self, experiment_id, *, name, queue_type, created_by=None, users=None, schema_ids=None
    ):
        from mlflow.genai.review_queues.validation import validate_queue_for_create

        validated = validate_queue_for_create(
            name=name, queue_type=queue_type, users=users, schema_ids=schema_ids
        )
        canonical = self._labeling_experiment_id(experiment_id)
        self._validate_schema_ids_exist(canonical, validated.schema_ids)
        now = get_current_time_millis()
        item = {
            "queue_id": f"{QUEUE_ID_PREFIX}{uuid.uuid4().hex}",
            "experiment_id": canonical,
            "name": validated.name,
            "name_key": validated.name.lower(),
            "queue_type": str(validated.queue_type),
            "creation_time_ms": now,
            "last_update_time_ms": now,
            "users": sorted(validated.users),
            "schema_ids": sorted(validated.schema_ids),
            "workspace": self._get_active_workspace(),
        }
        if created_by is not None:
            item["created_by"] = created_by
        try:
            stored = self.review_queues.create(item)
        except QueueNameTaken:
            raise _queue_name_taken(validated.name) from None
        return to_review_queue(stored)

    def get_or_create_user_queue(self, experiment_id, *, user):
        from mlflow.genai.review_queues import ReviewQueueType
        from mlflow.genai.review_queues.validation import normalize_user

        name = normalize_user(user)
        try:
            return self.create_review_queue(
                experiment_id, name=name, queue_type="user", created_by=name
            )
        except MlflowException as e:
            if e.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise
            existing = self.get_review_queue_by_name(experiment_id, name=name)
            if ReviewQueueType(existing.queue_type) != ReviewQueueType.USER:
                raise MlflowException(
                    f"A non-user queue named '{name}' already exists; cannot get-or-create "
                    f"a user queue with that name.",
                    error_code=RESOURCE_ALREADY_EXISTS,
                ) from e
            return existing

    def get_review_queue(self, queue_id):
        return to_review_queue(self._queue_item(queue_id))

    def get_review_queue_by_name(self, experiment_id, *, name):
        canonical = self._labeling_experiment_id(experiment_id)
        item = self.review_queues.get_by_name(canonical, name.lower())
        if item is None:
            raise MlflowException(
                f"Review queue with name '{name}' not found for experiment '{experiment_id}'.",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        return to_review_queue(item)

    def list_review_queues(
        self, experiment_id, *, user=None, item_id=None, max_results=None, page_token=None
    ):
        from mlflow.genai.review_queues.validation import normalize_user

        if max_results is None:
            max_results = SEARCH_MAX_RESULTS_DEFAULT
        else:
            validate_max_results(max_results)
        canonical = self._labeling_experiment_id(experiment_id)
        user = normalize_user(user) if user is not None else None

        def keep(queue: dict) -> bool:
            return str(queue["experiment_id"]) == canonical and (
                user is None or user in (queue.get("users") or ())
            )

        if item_id is not None:
            # The queues holding the item, read by id from its refs (not every queue).
            queue_ids = self.queue_items.queues_holding(self._get_active_workspace(), item_id)
            queues = [q for q in self.review_queues.batch_get(queue_ids) if keep(q)]
            page = self.review_queues.page_of(queues, max_results, page_token)
        else:
            page = self.review_queues.list_page(
                canonical, max_results, page_token, keep=keep if user is not None else None
            )
        return PagedList([to_review_queue(q) for q in page.items], page.token)

    def update_review_queue(
        self, queue_id, *, users=None, schema_ids=None, name=None, new_owner=None
    ):
        from mlflow.genai.review_queues import ReviewQueueType
        from mlflow.genai.review_queues.validation import (
            normalize_schema_ids,
            normalize_users,
            validate_custom_queue_name,
            validate_queue_owner,
        )

        current = self._queue_item(queue_id)
        if ReviewQueueType(current["queue_type"]) == ReviewQueueType.USER:
            raise MlflowException(
                "A user queue's name, assigned user, schemas, and owner are fixed "
                "and cannot be updated.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if users is None and schema_ids is None and name is None and new_owner is None:
            return to_review_queue(current)
        fields: dict = {}
        if new_owner is not None:
            fields["created_by"] = validate_queue_owner(new_owner)
        if name is not None:
            new_name = validate_custom_queue_name(name)
            if new_name != current["name"]:
                fields["name"] = new_name
                fields["name_key"] = new_name.lower()
        if users is not None:
            fields["users"] = sorted(normalize_users(users))
        if schema_ids is not None:
            if int(current.get("item_count", 0)) > 0:
                raise _questions_locked()
            normalized = normalize_schema_ids(schema_ids)
            self._validate_schema_ids_exist(str(current["experiment_id"]), normalized)
            fields["schema_ids"] = sorted(normalized)
        fields["last_update_time_ms"] = get_current_time_millis()
        try:
            updated = self.review_queues.update(
                current, fields, require_empty=schema_ids is not None
            )
        except QueueNameTaken:
            raise _queue_name_taken(fields["name"]) from None
        except QueueChanged:
            # Deleted, or given items, since it was read: answer as if the write came after.
            if self.review_queues.get(queue_id) is None:
                raise _queue_not_found(queue_id) from None
            raise _questions_locked() from None
        return to_review_queue(updated)

    def delete_review_queue(self, queue_id):
        queue = self.review_queues.get(queue_id)
        if queue is None:
            _logger.debug("Review queue with id '%s' not found; delete is a no-op.", queue_id)
            return
        self.review_queues.delete(queue)
        self.queue_items.drop_queue(queue["queue_id"])

    def add_items_to_review_queue(self, queue_id, *, item_ids, item_type="trace"):
        from mlflow.genai.review_queues import ReviewStatus
        from mlflow.genai.review_queues.validation import (
            coerce_item_type,
            validate_item_ids_for_attach,
        )

        coerced_item_type = coerce_item_type(item_type)
        normalized = validate_item_ids_for_attach(item_ids)
        queue = self._queue_item(queue_id)
        try:
            rows = self.queue_items.attach(
                queue,
                normalized,
                str(coerced_item_type),
                str(ReviewStatus.PENDING),
                get_current_time_millis(),
            )
        except QueueGone:
            raise _queue_not_found(queue_id) from None
        return [to_review_queue_item(r) for r in rows]

    def remove_items_from_review_queue(self, queue_id, *, item_ids):
        from mlflow.genai.review_queues.validation import validate_item_ids_for_attach

        normalized = validate_item_ids_for_attach(item_ids)
        self.queue_items.detach(self._queue_item(queue_id), normalized)

    def list_review_queue_items(self, queue_id, *, status=None, max_results=None, page_token=None):
        from mlflow.genai.review_queues.validation import coerce_status

        if max_results is None:
            max_results = SEARCH_MAX_RESULTS_DEFAULT
        else:
            validate_max_results(max_results)
        coerced = str(coerce_status(status)) if status is not None else None
        queue = self._queue_item(queue_id)
        page = self.queue_items.list_page(queue["queue_id"], coerced, max_results, page_token)
        return PagedList([to_review_queue_item(r) for r in page.items], page.token)

    def set_review_queue_item_status(self, queue_id, *, item_id, status, completed_by=None):
        from mlflow.genai.review_queues import ReviewStatus
        from mlflow.genai.review_queues.validation import (
            USER_MAX_LENGTH,
            coerce_status,
            normalize_item_id,
            normalize_user,
        )

        new_status = coerce_status(status)
        item_id = normalize_item_id(item_id)
        completer = normalize_user(completed_by) if completed_by is not None else None
        if new_status == ReviewStatus.PENDING:
            if completer is not None:
                raise MlflowException(
                    "`completed_by` must not be set when reopening an item to `pending`.",
                    error_code=INVALID_PARAMETER_VALUE,
                )
        elif not completer:
            raise MlflowException(
                f"`completed_by` is required when setting status to `{new_status}`.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        if completer is not None and len(completer) > USER_MAX_LENGTH:
            raise MlflowException(
                f"`completed_by` must be at most {USER_MAX_LENGTH} characters; "
                f"got {len(completer)}.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        queue = self._queue_item(queue_id)
        for _ in range(_STATUS_RETRIES):
            row = self.queue_items.get(queue["queue_id"], item_id)
            if row is None:
                raise MlflowException(
                    f"Item '{item_id}' is not attached to review queue '{queue_id}'.",
                    error_code=RESOURCE_DOES_NOT_EXIST,
                )
            # A same-status write changes nothing (it must not re-attribute the item).
            if row["status"] == str(new_status):
                return to_review_queue_item(row)
            now = get_current_time_millis()
            reopened = new_status == ReviewStatus.PENDING
            fields = {
                "last_update_time_ms": now,
                "completed_by": None if reopened else completer,
                "completed_time_ms": None if reopened else now,
            }
            try:
                return to_review_queue_item(
                    self.queue_items.set_status(row, str(new_status), fields)
                )
            except ItemChanged:
                continue  # another reviewer moved it meanwhile: decide again on its new state
        raise MlflowException(
            f"Item '{item_id}' of review queue '{queue_id}' kept changing; try again.",
            error_code=TEMPORARILY_UNAVAILABLE,
        )

    def _delete_review_queue_items_for_traces(self, trace_ids: list[str]) -> None:
        """The SQL store's hook of the same name: deleted traces leave their queues."""
        if trace_ids:
            self.queue_items.drop_items(self._get_active_workspace(), list(trace_ids))
