"""Fault injection for tests: make DynamoDB misbehave at the wire, under botocore's retries.

A ``FaultInjector`` hooks a boto3 client's ``before-send`` event, the last step before
botocore sends an HTTP request. A handler there either returns a crafted HTTP response
(throttling, an internal error, unprocessed batch items, a transaction cancelled by a
conflict), or raises botocore's own timeout errors. Everything after it runs unchanged:
botocore parses the response, its retry handler (``client.py``'s config) decides to retry
and backs off, and the gateway sees exactly what it would see from DynamoDB. So a test
exercises the real retry paths, not a mock of them.

Off unless a test turns it on: nothing is registered on a client until a ``FaultInjector``
is made for it, and ``install_from_environment`` (called when a client is made) costs one
environment lookup unless ``MLFLOW_DYNAMODB_TEST_FAULTS`` is set. That variable exists so a
test can make a real ``mlflow server`` subprocess misbehave; it is never set in production.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError

ENV_VARIABLE = "MLFLOW_DYNAMODB_TEST_FAULTS"
_PREFIX = "com.amazonaws.dynamodb.v20120810#"

# A fault kind -> the DynamoDB error it imitates: (HTTP status, __type, message).
_ERRORS = {
    "throughput_exceeded": (
        400,
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
    ),
    "throttling": (400, "ThrottlingException", "Rate of requests exceeds the allowed throughput."),
    "internal_error": (500, "InternalServerError", "Internal server error"),
}
BATCH_OPERATIONS = ("BatchWriteItem", "BatchGetItem")
KINDS = (
    *_ERRORS,
    "unprocessed",  # BatchWriteItem/BatchGetItem: every item of the request left unprocessed
    "transaction_conflict",  # TransactWriteItems: cancelled, a concurrent transaction won
    "read_timeout",  # the request is never sent; botocore's ReadTimeoutError
    "connect_timeout",  # botocore's ConnectTimeoutError
    "lost_response",  # the request IS sent and applied, then the response is lost
)


@dataclass
class Fault:
    """Fail matching requests: skip the first ``skip``, then fail ``count`` of them (each
    attempt of a retried request counts). With ``every``, fail the first ``count`` of each
    ``every`` matching requests instead, indefinitely (a steady fault rate for a workload)."""

    kind: str
    count: int = 1
    operations: frozenset[str] | None = None
    skip: int = 0
    every: int | None = None
    seen: int = 0
    injected: int = 0

    def matches(self, operation: str) -> bool:
        if self.operations is not None and operation not in self.operations:
            return False
        if self.kind == "unprocessed":
            return operation in BATCH_OPERATIONS
        if self.kind == "transaction_conflict":
            return operation == "TransactWriteItems"
        return True

    def take(self) -> bool:
        """Count one matching request; whether it fails."""
        self.seen += 1
        position = self.seen - 1 - self.skip
        if position < 0:
            return False
        fail = position % self.every < self.count if self.every else position < self.count
        self.injected += fail
        return fail

    @property
    def spent(self) -> bool:
        return self.every is None and self.seen - self.skip >= self.count


@dataclass
class FaultInjector:
    """The faults of one boto3 client. ``inject`` queues a fault; the first queued fault
    that matches a request and is not spent decides it. ``injected`` counts faults by kind."""

    client: Any
    faults: list[Fault] = field(default_factory=list)
    injected: Counter = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client.meta.events.register("before-send.dynamodb", self._before_send)

    def inject(
        self,
        kind: str,
        count: int = 1,
        *,
        operations: Iterable[str] | None = None,
        skip: int = 0,
        every: int | None = None,
    ) -> Fault:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}; one of {KINDS}")
        fault = Fault(kind, count, frozenset(operations) if operations else None, skip, every)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def remove(self) -> None:
        """Unhook from the client: it behaves as if never touched."""
        self.clear()
        self.client.meta.events.unregister("before-send.dynamodb", self._before_send)

    def __enter__(self) -> FaultInjector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    def _before_send(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            fault = next((f for f in self.faults if not f.spent and f.matches(operation)), None)
            if fault is None or not fault.take():
                return None
            self.injected[fault.kind] += 1
        return _misbehave(fault.kind, operation, request)


def _misbehave(kind: str, operation: str, request: Any) -> AWSResponse:
    if kind in _ERRORS:
        status, error_type, message = _ERRORS[kind]
        return _response(request, status, {"__type": _PREFIX + error_type, "message": message})
    if kind == "read_timeout":
        raise ReadTimeoutError(endpoint_url=request.url)
    if kind == "connect_timeout":
        raise ConnectTimeoutError(endpoint_url=request.url)
    if kind == "lost_response":
        _send(request)
        raise ReadTimeoutError(endpoint_url=request.url)
    body = json.loads(request.body)
    if kind == "unprocessed":
        if operation == "BatchWriteItem":
            return _response(request, 200, {"UnprocessedItems": body["RequestItems"]})
        tables = body["RequestItems"]
        return _response(
            request, 200, {"Responses": {t: [] for t in tables}, "UnprocessedKeys": tables}
        )
    # transaction_conflict: the first action lost to another transaction, the rest were fine
    reasons = [{"Code": "None"} for _ in body["TransactItems"]]
    reasons[0] = {"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
    return _response(
        request,
        400,
        {
            "__type": _PREFIX + "TransactionCanceledException",
            "message": "Transaction cancelled, please refer cancellation reasons for specific "
            "reasons [TransactionConflict]",
            "CancellationReasons": reasons,
        },
    )


class _Body:
    def __init__(self, data: bytes):
        self._data = data

    def stream(self, **_: Any) -> Iterable[bytes]:
        yield self._data


def _response(request: Any, status: int, payload: dict) -> AWSResponse:
    data = json.dumps(payload).encode()
    headers = {"Content-Type": "application/x-amz-json-1.0", "Content-Length": str(len(data))}
    return AWSResponse(request.url, status, headers, _Body(data))


def _send(request: Any) -> None:
    """Send the signed request as botocore would have, and drop the answer."""
    body = request.body
    if isinstance(body, str):
        body = body.encode()
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    sent = urllib.request.Request(request.url, data=body, headers=headers, method=request.method)
    try:
        with urllib.request.urlopen(sent, timeout=30) as answer:
            answer.read()
    except OSError:  # an HTTP error status included: the request reached DynamoDB all the same
        pass


def install_from_environment(client: Any) -> FaultInjector | None:
    """Faults from ``MLFLOW_DYNAMODB_TEST_FAULTS`` (a JSON list of ``inject`` arguments, e.g.
    ``[{"kind": "throttling", "count": 2, "every": 9}]``) on a new client; None when unset."""
    spec = os.environ.get(ENV_VARIABLE)
    if not spec:
        return None
    injector = FaultInjector(client)
    for fault in json.loads(spec):
        injector.inject(**fault)
    return injector
