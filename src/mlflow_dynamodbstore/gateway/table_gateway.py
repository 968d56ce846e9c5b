"""The table gateway: every DynamoDB request the package makes goes through here.

It marshals with boto3's TypeSerializer/TypeDeserializer, splits batches at DynamoDB's
limits, retries UnprocessedItems/UnprocessedKeys with capped exponential backoff and full
jitter, pages queries, maps conditional-check failures and refused requests (item too
large, other validation errors) to typed errors and counts every request with its consumed
capacity. Throttling and transient errors are retried by botocore itself (see
``client.py``); nothing here repeats that. DynamoDB's limits are in ``limits.py``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from typing import Any, TypeVar

from boto3.dynamodb.conditions import ConditionBase, ConditionExpressionBuilder
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from mlflow_dynamodbstore.gateway.errors import (
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    RetriesExhausted,
    TransactionCancelled,
    Unavailable,
)
from mlflow_dynamodbstore.gateway.limits import (
    BATCH_GET_LIMIT,
    BATCH_WRITE_LIMIT,
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    TRANSACTION_LIMIT,
)
from mlflow_dynamodbstore.gateway.optimistic import full_jitter
from mlflow_dynamodbstore.gateway.startup import StartupGate
from mlflow_dynamodbstore.gateway.stats import RequestStats

KEY_ATTRIBUTES = ("PK", "SK")
# Error codes botocore retries (throttling, server errors) that can still reach the gateway
# once its attempts are spent: the request may succeed later, so they become Unavailable.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "LimitExceededException",
        "TransactionInProgressException",
        "InternalServerError",
        "ServiceUnavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# Batch requests of one call sent at once (botocore's pool in client.py holds 50).
DEFAULT_BATCH_PARALLELISM = 4

Item = dict[str, Any]


class TableGateway:
    def __init__(
        self,
        client: Any,
        table_name: str,
        stats: RequestStats | None = None,
        *,
        max_batch_attempts: int = 10,
        backoff_base: float = 0.05,
        backoff_cap: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        parallelism: int | None = None,
    ):
        self.client = client
        self.table_name = table_name
        self.stats = stats if stats is not None else RequestStats()
        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()
        self._max_batch_attempts = max_batch_attempts
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._sleep = sleep
        self._parallelism = parallelism if parallelism is not None else batch_parallelism()
        # Called with (operation, request arguments, response) after each successful
        # request: benchmarks count writes per partition key (gateway/partition_writes.py).
        self.observers: list[Callable[[str, dict, dict], None]] = []
        # The connection's start-up steps (gateway/startup.py): passed before every request.
        self.gate: StartupGate | None = None

    # ---- marshalling ---------------------------------------------------------------
    def serialize(self, item: Item) -> dict:
        return {k: self._serializer.serialize(v) for k, v in item.items()}

    def deserialize(self, item: dict) -> Item:
        return {k: self._deserializer.deserialize(v) for k, v in item.items()}

    def _key(self, key: Item) -> dict:
        return self.serialize({k: key[k] for k in KEY_ATTRIBUTES})

    def _condition_args(
        self, condition: ConditionBase | None, builder: ConditionExpressionBuilder
    ) -> dict:
        if condition is None:
            return {}
        built = builder.build_expression(condition)
        return _expression_args(
            "ConditionExpression",
            built.condition_expression,
            built.attribute_name_placeholders,
            built.attribute_value_placeholders,
            self._serializer,
        )

    def _call(self, operation: str, method: Callable[..., dict], **kwargs: Any) -> dict:
        if self.gate is not None:
            self.gate.check()
        kwargs.setdefault("ReturnConsumedCapacity", "TOTAL")
        try:
            response = method(**kwargs)
        except ClientError as exc:
            self.stats.record(operation, None)
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code == "ConditionalCheckFailedException":
                raw = exc.response.get("Item")
                retried = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0
                raise ConditionFailed(
                    str(exc), item=self.deserialize(raw) if raw else None, retried=retried
                ) from None
            if code == "ValidationException":
                raise _invalid(operation, error.get("Message", "")) from None
            if code == "TransactionCanceledException":
                cancelled = exc.response.get("CancellationReasons", [])
                for reason in cancelled:
                    # An invalid action dooms the transaction whatever the others say.
                    if reason.get("Code") == "ValidationError":
                        raise _invalid(operation, reason.get("Message", "")) from None
                reasons = [r.get("Code", "None") for r in cancelled]
                raise TransactionCancelled(reasons) from None
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in TRANSIENT_ERROR_CODES or status >= 500:
                reason = f"{code or status}: {error.get('Message', '')}"
                raise Unavailable(operation, reason) from None
            raise
        except (BotocoreConnectionError, HTTPClientError) as exc:
            # timeouts and dropped connections, after botocore's own retries
            self.stats.record(operation, None)
            raise Unavailable(operation, type(exc).__name__) from None
        self.stats.record(operation, response.get("ConsumedCapacity"))
        for observe in self.observers:
            observe(operation, kwargs, response)
        return response

    # ---- single-item operations ------------------------------------------------------
    def get_item(self, key: Item, *, consistent: bool = True) -> Item | None:
        if not can_exist(key):
            return None
        response = self._call(
            "GetItem",
            self.client.get_item,
            TableName=self.table_name,
            Key=self._key(key),
            ConsistentRead=consistent,
        )
        raw = response.get("Item")
        return self.deserialize(raw) if raw else None

    def put_item(self, item: Item, *, condition: ConditionBase | None = None) -> None:
        serialized = self.serialize(item)
        try:
            self._call(
                "PutItem",
                self.client.put_item,
                TableName=self.table_name,
                Item=serialized,
                **self._condition_args(condition, ConditionExpressionBuilder()),
                **({"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if condition else {}),
            )
        except ConditionFailed as exc:
            # botocore retried after a lost answer and the condition failed on the item our
            # first attempt wrote (items of a create carry a fresh id: equal means ours)
            if exc.retried and exc.item is not None and self.serialize(exc.item) == serialized:
                return
            raise

    def update_item(
        self,
        key: Item,
        update_expression: str,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: ConditionBase | None = None,
        condition_expression: str | None = None,
        return_values: str = "NONE",
    ) -> Item | None:
        """``update_expression`` uses its own placeholders (``#u...``/``:u...``): the
        condition builder numbers its own ``#n0``/``:v0``, so they never collide.
        ``condition_expression`` is a raw ConditionExpression over the update's own
        placeholders, as in ``tx_update``. A refused condition raises ConditionFailed with
        the item as it stands (DynamoDB returns it at no read cost)."""
        args = _expression_args(
            "UpdateExpression", update_expression, names or {}, values or {}, self._serializer
        )
        if condition_expression is not None:
            args["ConditionExpression"] = condition_expression
        cond = self._condition_args(condition, ConditionExpressionBuilder())
        _merge_expression_args(args, cond)
        conditional = "ConditionExpression" in args
        response = self._call(
            "UpdateItem",
            self.client.update_item,
            TableName=self.table_name,
            Key=self._key(key),
            ReturnValues=return_values,
            **args,
            **({"ReturnValuesOnConditionCheckFailure": "ALL_OLD"} if conditional else {}),
        )
        raw = response.get("Attributes")
        return self.deserialize(raw) if raw else None

    def delete_item(
        self, key: Item, *, condition: ConditionBase | None = None, return_old: bool = False
    ) -> Item | None:
        response = self._call(
            "DeleteItem",
            self.client.delete_item,
            TableName=self.table_name,
            Key=self._key(key),
            ReturnValues="ALL_OLD" if return_old else "NONE",
            **self._condition_args(condition, ConditionExpressionBuilder()),
        )
        raw = response.get("Attributes")
        return self.deserialize(raw) if raw else None

    # ---- queries ---------------------------------------------------------------------
    def query_page(
        self,
        key_condition: ConditionBase,
        *,
        index: str | None = None,
        filter: ConditionBase | None = None,
        forward: bool = True,
        limit: int | None = None,
        start_key: Item | None = None,
        consistent: bool = False,
    ) -> tuple[list[Item], Item | None]:
        """One Query request: (items, LastEvaluatedKey or None)."""
        builder = ConditionExpressionBuilder()
        built = builder.build_expression(key_condition, is_key_condition=True)
        args = _expression_args(
            "KeyConditionExpression",
            built.condition_expression,
            built.attribute_name_placeholders,
            built.attribute_value_placeholders,
            self._serializer,
        )
        if filter is not None:
            fbuilt = builder.build_expression(filter)
            _merge_expression_args(
                args,
                _expression_args(
                    "FilterExpression",
                    fbuilt.condition_expression,
                    fbuilt.attribute_name_placeholders,
                    fbuilt.attribute_value_placeholders,
                    self._serializer,
                ),
            )
        if index:
            args["IndexName"] = index
        if consistent:
            # the table or a local index (DynamoDB refuses it on a global index)
            args["ConsistentRead"] = True
        if limit:
            args["Limit"] = limit
        if start_key:
            args["ExclusiveStartKey"] = self.serialize(start_key)
        response = self._call(
            "Query",
            self.client.query,
            TableName=self.table_name,
            ScanIndexForward=forward,
            **args,
        )
        items = [self.deserialize(raw) for raw in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, (self.deserialize(last) if last else None)

    def query(self, key_condition: ConditionBase, **kwargs: Any) -> Iterator[Item]:
        """All items of a query, page after page (lazily: stop iterating to stop reading)."""
        start_key = kwargs.pop("start_key", None)
        while True:
            items, start_key = self.query_page(key_condition, start_key=start_key, **kwargs)
            yield from items
            if not start_key:
                return

    # ---- batches ---------------------------------------------------------------------
    def backoff(self, attempt: int) -> None:
        """Sleep before retry ``attempt`` (0-based)."""
        self._sleep(full_jitter(attempt, self._backoff_base, self._backoff_cap))

    def batch_get(self, keys: Iterable[Item], *, consistent: bool = False) -> list[Item]:
        """Fetch items by key (duplicates removed), 100 per request, several requests at
        once; missing ones are absent."""
        unique = [k for k in {_key_tuple(k): k for k in keys}.values() if can_exist(k)]

        def fetch(chunk: list[Item]) -> list[Item]:
            found: list[Item] = []
            pending: dict = {
                self.table_name: {
                    "Keys": [self._key(k) for k in chunk],
                    "ConsistentRead": consistent,
                }
            }
            attempt = 0
            while pending:
                response = self._call(
                    "BatchGetItem", self.client.batch_get_item, RequestItems=pending
                )
                found.extend(
                    self.deserialize(raw)
                    for raw in response.get("Responses", {}).get(self.table_name, [])
                )
                pending = response.get("UnprocessedKeys") or {}
                if pending:
                    attempt = self._next_attempt(attempt, "BatchGetItem")
            return found

        return [item for part in self._each(fetch, unique, BATCH_GET_LIMIT) for item in part]

    def batch_write(self, puts: Iterable[Item] = (), deletes: Iterable[Item] = ()) -> None:
        """Write and delete items, 25 per request, several requests at once. DynamoDB
        rejects a batch naming one key twice, so the last write of a key wins (a delete
        after a put of it deletes)."""
        requests: dict[tuple, dict] = {}
        for item in puts:
            requests[_key_tuple(item)] = {"PutRequest": {"Item": self.serialize(item)}}
        for key in deletes:
            requests[_key_tuple(key)] = {"DeleteRequest": {"Key": self._key(key)}}

        def write(chunk: list[dict]) -> None:
            pending: dict = {self.table_name: chunk}
            attempt = 0
            while pending:
                response = self._call(
                    "BatchWriteItem", self.client.batch_write_item, RequestItems=pending
                )
                pending = response.get("UnprocessedItems") or {}
                if pending:
                    attempt = self._next_attempt(attempt, "BatchWriteItem")

        self._each(write, list(requests.values()), BATCH_WRITE_LIMIT)

    def _each(self, fn: Callable[[list], Any], values: list, size: int) -> list:
        """``fn`` of every ``size``-chunk of ``values``: in this thread when there is one,
        else up to ``parallelism`` at a time (a 1,000-point log_batch is 40 requests; one
        after another they would add up their round trips). Every chunk is attempted; the
        first error is raised after all have finished."""
        chunks = list(_chunks(values, size))
        # Sequential while the gate is not open: start-up steps run in this thread only.
        closed = self.gate is not None and not self.gate.is_open
        if len(chunks) <= 1 or self._parallelism <= 1 or closed:
            return [fn(chunk) for chunk in chunks]
        with ThreadPoolExecutor(min(self._parallelism, len(chunks))) as pool:
            futures = [pool.submit(fn, chunk) for chunk in chunks]
        return [future.result() for future in futures]

    def _next_attempt(self, attempt: int, operation: str) -> int:
        if attempt + 1 >= self._max_batch_attempts:
            raise RetriesExhausted(
                f"{operation} still had unprocessed items after {self._max_batch_attempts} tries"
            )
        self.backoff(attempt)
        return attempt + 1

    # ---- transactions ----------------------------------------------------------------
    def tx_put(self, item: Item, condition: ConditionBase | None = None) -> dict:
        return {
            "Put": {
                "TableName": self.table_name,
                "Item": self.serialize(item),
                **self._condition_args(condition, ConditionExpressionBuilder()),
            }
        }

    def tx_update(
        self,
        key: Item,
        update_expression: str,
        *,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
        condition: ConditionBase | None = None,
        condition_expression: str | None = None,
    ) -> dict:
        """``condition_expression`` is a raw ConditionExpression over the update's own
        ``names``/``values`` placeholders, for paths boto3's builder would split wrongly
        (map keys holding dots); use it or ``condition``, not both."""
        args = _expression_args(
            "UpdateExpression", update_expression, names or {}, values or {}, self._serializer
        )
        if condition_expression is not None:
            args["ConditionExpression"] = condition_expression
        _merge_expression_args(args, self._condition_args(condition, ConditionExpressionBuilder()))
        return {"Update": {"TableName": self.table_name, "Key": self._key(key), **args}}

    def tx_delete(self, key: Item, condition: ConditionBase | None = None) -> dict:
        return {
            "Delete": {
                "TableName": self.table_name,
                "Key": self._key(key),
                **self._condition_args(condition, ConditionExpressionBuilder()),
            }
        }

    def tx_check(self, key: Item, condition: ConditionBase) -> dict:
        return {
            "ConditionCheck": {
                "TableName": self.table_name,
                "Key": self._key(key),
                **self._condition_args(condition, ConditionExpressionBuilder()),
            }
        }

    def tx_check_expression(
        self, key: Item, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> dict:
        """A ConditionCheck with a raw ConditionExpression (map keys holding dots). Not
        scoped: the caller's expression checks the owner attribute itself."""
        args = _expression_args("ConditionExpression", expression, names, values, self._serializer)
        return {"ConditionCheck": {"TableName": self.table_name, "Key": self._key(key), **args}}

    def transact_write(self, actions: Sequence[dict], *, conflict_retries: int = 5) -> None:
        """All-or-nothing write of up to 100 actions built with the ``tx_*`` helpers.

        A cancellation caused only by a concurrent transaction on the same items is retried;
        a failed condition raises TransactionCancelled with the per-action reasons.
        """
        if not actions:
            return
        if len(actions) > TRANSACTION_LIMIT:
            raise ValueError(f"a transaction holds at most {TRANSACTION_LIMIT} actions")
        attempt = 0
        while True:
            try:
                self._call(
                    "TransactWriteItems", self.client.transact_write_items, TransactItems=actions
                )
                return
            except TransactionCancelled as exc:
                only_conflicts = all(
                    r in ("None", "TransactionConflict") for r in exc.reasons
                ) and any(r == "TransactionConflict" for r in exc.reasons)
                if not only_conflicts or attempt >= conflict_retries:
                    raise
                self.backoff(attempt)
                attempt += 1


def batch_parallelism() -> int:
    """``MLFLOW_DYNAMODB_BATCH_PARALLELISM`` (1 sends one batch request at a time)."""
    raw = os.environ.get("MLFLOW_DYNAMODB_BATCH_PARALLELISM", "")
    try:
        return max(1, int(raw)) if raw else DEFAULT_BATCH_PARALLELISM
    except ValueError:
        raise ValueError(
            f"MLFLOW_DYNAMODB_BATCH_PARALLELISM must be a whole number, not {raw!r}"
        ) from None


_A = TypeVar("_A")
_R = TypeVar("_R")


def map_side_by_side(fn: Callable[[_A], _R], args: Sequence[_A], workers: int) -> list[_R]:
    """``[fn(a) for a in args]``, at most ``workers`` at a time, in order. Each call runs in
    a copy of the caller's context: the scoped gateway finds the request's workspace in a
    ContextVar, which worker threads do not inherit."""
    workers = min(workers, len(args))
    if workers <= 1:
        return [fn(a) for a in args]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(copy_context().run, fn, a) for a in args]
        return [f.result() for f in futures]


def set_expression(fields: dict[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET`` every attribute in ``fields``: (UpdateExpression, names, values), with
    ``#u_s``/``:u_s`` placeholders for ``update_item``/``tx_update``."""
    names = {f"#u_s{i}": name for i, name in enumerate(fields)}
    values = {f":u_s{i}": value for i, value in enumerate(fields.values())}
    expression = "SET " + ", ".join(f"#u_s{i} = :u_s{i}" for i in range(len(fields)))
    return expression, names, values


def _invalid(operation: str, message: str) -> InvalidRequest:
    """ItemTooLarge for DynamoDB's item and transaction size errors ("Item size has exceeded
    the maximum allowed size", "Item size to update has exceeded...", "Transaction payload
    size cannot exceed 4MB"), InvalidRequest for any other validation error."""
    lowered = message.lower()
    if "item size" in lowered or "payload size" in lowered:
        return ItemTooLarge(operation, message)
    return InvalidRequest(operation, message)


def can_exist(key: Item) -> bool:
    """Whether an item can have this key: DynamoDB refuses keys over its size limits (and
    empty ones) with a ValidationException; a read of one finds nothing instead, as a
    lookup of an id too long for the SQL store's column does."""
    pk, sk = (key[k] for k in KEY_ATTRIBUTES)
    if not isinstance(pk, str) or not isinstance(sk, str):
        return True
    return (
        0 < len(pk.encode()) <= MAX_PARTITION_KEY_BYTES
        and 0 < len(sk.encode()) <= MAX_SORT_KEY_BYTES
    )


def _key_tuple(item: Item) -> tuple:
    return tuple(item[k] for k in KEY_ATTRIBUTES)


def _chunks(values: list, size: int) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _expression_args(
    field: str,
    expression: str,
    names: dict[str, str],
    values: dict[str, Any],
    serializer: TypeSerializer,
) -> dict:
    args: dict[str, Any] = {field: expression}
    if names:
        args["ExpressionAttributeNames"] = dict(names)
    if values:
        args["ExpressionAttributeValues"] = {k: serializer.serialize(v) for k, v in values.items()}
    return args


def _merge_expression_args(target: dict, extra: dict) -> None:
    for k, v in extra.items():
        if k in ("ExpressionAttributeNames", "ExpressionAttributeValues"):
            target.setdefault(k, {}).update(v)
        else:
            target[k] = v
