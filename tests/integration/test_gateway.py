"""The table gateway against DynamoDB Local: batching, retries, errors, counters."""

from __future__ import annotations

import threading

import boto3
import pytest
from boto3.dynamodb.conditions import Attr, Key
from botocore.awsrequest import AWSResponse

from mlflow_dynamodbstore.gateway import (
    ConditionFailed,
    InvalidRequest,
    ItemTooLarge,
    TableGateway,
    TransactionCancelled,
)
from mlflow_dynamodbstore.gateway.client import retry_config
from mlflow_dynamodbstore.gateway.errors import RetriesExhausted
from mlflow_dynamodbstore.gateway.limits import MAX_ITEM_BYTES, MAX_SORT_KEY_BYTES
from mlflow_dynamodbstore.provisioning.direct import create_table_directly


@pytest.fixture
def client(dynamodb_endpoint):
    return boto3.client(
        "dynamodb", endpoint_url=dynamodb_endpoint, region_name="us-east-1", config=retry_config()
    )


@pytest.fixture
def gateway(client, table_name):
    create_table_directly(client, table_name)
    return TableGateway(client, table_name, sleep=lambda _s: None)


class FlakyBatchClient:
    """Forwards to a real client, but each batch call processes only part of its request
    and hands the rest back as Unprocessed*, as DynamoDB does under load."""

    def __init__(self, real, keep: int = 3):
        self._real = real
        self._keep = keep
        self.batch_calls = 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def batch_write_item(self, RequestItems, **kwargs):
        self.batch_calls += 1
        ((table, requests),) = RequestItems.items()
        done, rest = requests[: self._keep], requests[self._keep :]
        response = self._real.batch_write_item(RequestItems={table: done}, **kwargs)
        response["UnprocessedItems"] = {table: rest} if rest else {}
        return response

    def batch_get_item(self, RequestItems, **kwargs):
        self.batch_calls += 1
        ((table, spec),) = RequestItems.items()
        done, rest = spec["Keys"][: self._keep], spec["Keys"][self._keep :]
        response = self._real.batch_get_item(RequestItems={table: {**spec, "Keys": done}}, **kwargs)
        response["UnprocessedKeys"] = {table: {**spec, "Keys": rest}} if rest else {}
        return response


def _items(n, pk="P"):
    return [{"PK": pk, "SK": f"{i:05d}", "n": i, "blob": "x" * 100} for i in range(n)]


def test_put_get_update_delete_and_marshalling(gateway):
    item = {"PK": "A", "SK": "B", "s": "text", "n": 3, "m": {"k": "v"}, "l": [1, "two"], "e": ""}
    gateway.put_item(item)
    got = gateway.get_item({"PK": "A", "SK": "B"})
    assert got == item
    new = gateway.update_item(
        {"PK": "A", "SK": "B"},
        "SET #u_s = :u_s ADD #u_n :u_one",
        names={"#u_s": "s", "#u_n": "n"},
        values={":u_s": "changed", ":u_one": 2},
        return_values="ALL_NEW",
    )
    assert new["s"] == "changed" and new["n"] == 5
    gateway.delete_item({"PK": "A", "SK": "B"})
    assert gateway.get_item({"PK": "A", "SK": "B"}) is None


def test_conditional_failures_are_typed(gateway):
    gateway.put_item({"PK": "A", "SK": "B", "v": 1}, condition=Attr("PK").not_exists())
    with pytest.raises(ConditionFailed) as info:
        gateway.put_item({"PK": "A", "SK": "B", "v": 2}, condition=Attr("PK").not_exists())
    assert info.value.item == {"PK": "A", "SK": "B", "v": 1}
    with pytest.raises(ConditionFailed):
        gateway.update_item(
            {"PK": "A", "SK": "B"},
            "SET #u_v = :u_v",
            names={"#u_v": "v"},
            values={":u_v": 3},
            condition=Attr("v").eq(99),
        )


def test_transactions_report_which_condition_failed(gateway):
    gateway.put_item({"PK": "T", "SK": "1"})
    with pytest.raises(TransactionCancelled) as info:
        gateway.transact_write(
            [
                gateway.tx_put({"PK": "T", "SK": "0"}, Attr("PK").not_exists()),
                gateway.tx_put({"PK": "T", "SK": "1"}, Attr("PK").not_exists()),
            ]
        )
    assert info.value.failed_conditions() == [1]
    assert gateway.get_item({"PK": "T", "SK": "0"}) is None  # all or nothing
    with pytest.raises(ValueError):
        gateway.transact_write([gateway.tx_put({"PK": "T", "SK": str(i)}) for i in range(101)])


# A value no DynamoDB message may echo back: errors carry the message, never item contents.
SECRET = "s3cr3t"


def _too_big(n: int = MAX_ITEM_BYTES) -> str:
    return (SECRET * (n // len(SECRET) + 1))[:n]


def _no_contents(exc: Exception) -> None:
    assert SECRET not in str(exc) and len(str(exc)) < 500


def test_too_large_put_update_and_batch_raise_item_too_large(gateway):
    with pytest.raises(ItemTooLarge) as info:
        gateway.put_item({"PK": "A", "SK": "B", "v": _too_big()})
    assert info.value.operation == "PutItem"
    assert "Item size has exceeded the maximum allowed size" in str(info.value)
    _no_contents(info.value)
    gateway.put_item({"PK": "A", "SK": "B", "v": _too_big(MAX_ITEM_BYTES // 2)})
    with pytest.raises(ItemTooLarge) as info:
        gateway.update_item(
            {"PK": "A", "SK": "B"},
            "SET #u_w = :u_w",
            names={"#u_w": "w"},
            values={":u_w": _too_big(MAX_ITEM_BYTES // 2 + 1000)},
            condition=Attr("PK").exists(),
        )
    assert "Item size to update has exceeded" in str(info.value)
    _no_contents(info.value)
    with pytest.raises(ItemTooLarge):
        gateway.batch_write([{"PK": "C", "SK": "D", "v": _too_big()}])
    assert gateway.get_item({"PK": "C", "SK": "D"}) is None


def test_too_large_transactions_raise_item_too_large(gateway):
    gateway.put_item({"PK": "A", "SK": "B", "v": _too_big(MAX_ITEM_BYTES // 2)})
    # DynamoDB (Local) refuses a too-large Put up front (ValidationException) ...
    with pytest.raises(ItemTooLarge):
        gateway.transact_write(
            [
                gateway.tx_put({"PK": "T", "SK": "1", "v": _too_big()}),
                gateway.tx_put({"PK": "T", "SK": "2"}),
            ]
        )
    # ... and cancels a transaction whose Update outgrows the item (reason "ValidationError").
    with pytest.raises(ItemTooLarge) as info:
        gateway.transact_write(
            [
                gateway.tx_update(
                    {"PK": "A", "SK": "B"},
                    "SET #u_w = :u_w",
                    names={"#u_w": "w"},
                    values={":u_w": _too_big(MAX_ITEM_BYTES // 2 + 1000)},
                ),
                gateway.tx_put({"PK": "T", "SK": "2"}),
            ]
        )
    assert info.value.operation == "TransactWriteItems"
    _no_contents(info.value)
    # The whole request is capped too (4 MB).
    with pytest.raises(ItemTooLarge, match="payload size"):
        gateway.transact_write(
            [gateway.tx_put({"PK": "T", "SK": str(i), "v": _too_big(390_000)}) for i in range(12)]
        )
    assert gateway.get_item({"PK": "T", "SK": "2"}) is None


def test_other_validation_errors_raise_invalid_request(gateway):
    too_long = {"PK": "A", "SK": _too_big(MAX_SORT_KEY_BYTES + 1)}
    with pytest.raises(InvalidRequest) as info:
        gateway.put_item(too_long)
    assert not isinstance(info.value, ItemTooLarge)
    assert "range primary key values must be under 1024 bytes" in str(info.value)
    _no_contents(info.value)
    with pytest.raises(InvalidRequest) as info:
        gateway.transact_write([gateway.tx_put({"PK": "T", "SK": "1"}), gateway.tx_put(too_long)])
    assert not isinstance(info.value, ItemTooLarge)
    _no_contents(info.value)
    # no item can have an empty or too long key: reads find nothing without asking
    gateway.stats.reset()
    assert gateway.get_item({"PK": "", "SK": "B"}) is None
    assert gateway.get_item(too_long) is None
    assert gateway.batch_get([too_long]) == []
    assert gateway.stats.total_requests == 0
    assert gateway.get_item({"PK": "T", "SK": "1"}) is None


def test_batch_write_splits_at_25_and_dedupes_keys(gateway):
    items = _items(60)
    duplicates = [{**items[0], "n": -1}]
    gateway.stats.reset()
    gateway.batch_write(items + duplicates)
    assert gateway.stats.requests("BatchWriteItem") == 3  # ceil(60 / 25)
    stored = list(gateway.query(Key("PK").eq("P"), consistent=True))
    assert len(stored) == 60
    assert stored[0]["n"] == -1  # the last write of a key wins


def test_batch_write_retries_unprocessed_items_until_nothing_is_lost(client, table_name):
    create_table_directly(client, table_name)
    flaky = FlakyBatchClient(client, keep=4)
    sleeps: list[float] = []
    gateway = TableGateway(flaky, table_name, sleep=sleeps.append)
    gateway.batch_write(_items(50))
    stored = list(gateway.query(Key("PK").eq("P"), consistent=True))
    assert [i["n"] for i in stored] == list(range(50))
    assert flaky.batch_calls == 14  # 25 -> 7 calls of 4, twice
    assert sleeps and all(0 <= s <= 2.0 for s in sleeps)  # backoff with jitter, capped


def test_batch_get_retries_unprocessed_keys(client, table_name):
    create_table_directly(client, table_name)
    TableGateway(client, table_name).batch_write(_items(150))
    flaky = FlakyBatchClient(client, keep=30)
    gateway = TableGateway(flaky, table_name, sleep=lambda _s: None)
    keys = [{"PK": "P", "SK": f"{i:05d}"} for i in range(150)] + [{"PK": "P", "SK": "nope"}]
    found = gateway.batch_get(keys + keys[:10], consistent=True)
    assert sorted(i["n"] for i in found) == list(range(150))


def test_batch_retries_give_up_eventually(client, table_name):
    create_table_directly(client, table_name)

    class NeverProcesses(FlakyBatchClient):
        def batch_write_item(self, RequestItems, **kwargs):
            return {"UnprocessedItems": RequestItems}

    gateway = TableGateway(NeverProcesses(client), table_name, sleep=lambda _s: None)
    with pytest.raises(RetriesExhausted):
        gateway.batch_write(_items(3))


def test_throttling_is_retried_by_botocore(client, table_name):
    """Inject ThrottlingException responses below the gateway: botocore's retry handler
    (retry_config()) absorbs them and no write is lost."""
    create_table_directly(client, table_name)
    remaining = {"throttles": 3}

    def throttle(request, **_kwargs):
        if remaining["throttles"] > 0:
            remaining["throttles"] -= 1
            body = b'{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException",'
            body += b'"message":"Rate of requests exceeds the allowed throughput."}'
            return AWSResponse(request.url, 400, {"x-amzn-requestid": "x"}, _Raw(body))
        return None

    client.meta.events.register("before-send.dynamodb.BatchWriteItem", throttle)
    try:
        gateway = TableGateway(client, table_name)
        gateway.batch_write(_items(30))
    finally:
        client.meta.events.unregister("before-send.dynamodb.BatchWriteItem", throttle)
    assert remaining["throttles"] == 0
    assert len(list(gateway.query(Key("PK").eq("P"), consistent=True))) == 30


class _Raw:
    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_kwargs):
        yield self._body

    def read(self, *_args):
        body, self._body = self._body, b""
        return body


def test_query_pages_and_counters(gateway):
    gateway.batch_write([*_items(40), {"PK": "Q", "SK": "1"}])
    gateway.stats.reset()
    page, last = gateway.query_page(Key("PK").eq("P"), limit=15, consistent=True)
    assert len(page) == 15 and last is not None
    rest = list(gateway.query(Key("PK").eq("P"), start_key=last, limit=15, consistent=True))
    assert [i["n"] for i in page + rest] == list(range(40))
    assert gateway.stats.requests("Query") == 1 + 2  # 25 remaining = 2 pages of 15
    assert gateway.stats.read_capacity > 0
    filtered = list(
        gateway.query(Key("PK").eq("P") & Key("SK").begins_with("0001"), filter=Attr("n").gt(15))
    )
    assert [i["n"] for i in filtered] == list(range(16, 20))
    backwards, _ = gateway.query_page(Key("PK").eq("P"), forward=False, limit=2)
    assert [i["n"] for i in backwards] == [39, 38]


def test_stats_are_thread_safe(gateway):
    gateway.stats.reset()

    def work():
        for _ in range(20):
            gateway.get_item({"PK": "none", "SK": "none"})

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gateway.stats.requests("GetItem") == 80
    assert gateway.stats.total_requests == 80


class InFlightClient:
    """Forwards to a real client and records how many batch calls were running at once;
    fails the batch call that carries ``fail_sk`` (a permanent error)."""

    def __init__(self, real, fail_sk: str | None = None):
        self._real = real
        self._fail_sk = fail_sk
        self._lock = threading.Lock()
        self._running = 0
        self.most_at_once = 0

    def __getattr__(self, name):
        return getattr(self._real, name)

    def _track(self, call, **kwargs):
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            return call(**kwargs)
        finally:
            with self._lock:
                self._running -= 1

    def batch_write_item(self, RequestItems, **kwargs):
        ((_, requests),) = RequestItems.items()
        if any(r["PutRequest"]["Item"]["SK"]["S"] == self._fail_sk for r in requests):
            raise RuntimeError("permanent failure")
        return self._track(self._real.batch_write_item, RequestItems=RequestItems, **kwargs)

    def batch_get_item(self, RequestItems, **kwargs):
        return self._track(self._real.batch_get_item, RequestItems=RequestItems, **kwargs)


def test_batches_of_one_call_run_at_once(client, table_name):
    create_table_directly(client, table_name)
    tracking = InFlightClient(client)
    gateway = TableGateway(tracking, table_name, parallelism=4)
    items = _items(260)
    gateway.batch_write(items)
    assert gateway.stats.requests("BatchWriteItem") == 11  # ⌈260 / 25⌉, each once
    assert 1 < tracking.most_at_once <= 4
    got = gateway.batch_get([{"PK": "P", "SK": i["SK"]} for i in items], consistent=True)
    assert sorted(g["n"] for g in got) == list(range(260))
    assert gateway.stats.requests("BatchGetItem") == 3


def test_one_batch_at_a_time_when_parallelism_is_one(client, table_name):
    create_table_directly(client, table_name)
    tracking = InFlightClient(client)
    TableGateway(tracking, table_name, parallelism=1).batch_write(_items(100))
    assert tracking.most_at_once == 1


def test_a_failed_chunk_raises_after_the_others_are_written(client, table_name):
    create_table_directly(client, table_name)
    gateway = TableGateway(InFlightClient(client, fail_sk="00030"), table_name, parallelism=4)
    with pytest.raises(RuntimeError, match="permanent failure"):
        gateway.batch_write(_items(100))
    written = list(gateway.query(Key("PK").eq("P"), consistent=True))
    assert len(written) == 75  # the other three chunks of 25


def test_batch_parallelism_setting(monkeypatch):
    from mlflow_dynamodbstore.gateway.table_gateway import batch_parallelism

    monkeypatch.setenv("MLFLOW_DYNAMODB_BATCH_PARALLELISM", "8")
    assert batch_parallelism() == 8
    monkeypatch.setenv("MLFLOW_DYNAMODB_BATCH_PARALLELISM", "0")
    assert batch_parallelism() == 1
    monkeypatch.setenv("MLFLOW_DYNAMODB_BATCH_PARALLELISM", "many")
    with pytest.raises(ValueError, match="whole number"):
        batch_parallelism()
    monkeypatch.delenv("MLFLOW_DYNAMODB_BATCH_PARALLELISM")
    assert batch_parallelism() == 4
