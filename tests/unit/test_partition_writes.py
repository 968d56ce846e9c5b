"""The benchmark's partition-write counter: each item write counts for its table partition
key and for each GSI whose key the item carries (learned from puts, used by updates)."""

from __future__ import annotations

from mlflow_dynamodbstore.gateway.partition_writes import PartitionWrites


def _s(value: str) -> dict:
    return {"S": value}


def test_puts_updates_deletes_and_batches_count_per_partition():
    counter = PartitionWrites({"GSI1": "GSI1PK", "GSI2": "GSI2PK"})
    meta = {"PK": _s("RUN#1"), "SK": _s("META"), "GSI1PK": _s("EXP#1#RUNS")}
    counter.observe("PutItem", {"Item": meta}, {})
    # an update names no index key: the put taught the counter META's GSI1 key
    counter.observe(
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Update": {"Key": {"PK": _s("RUN#1"), "SK": _s("META")}}},
                {"ConditionCheck": {"Key": {"PK": _s("EXP#1"), "SK": _s("META")}}},
                {
                    "Update": {
                        "Key": {"PK": _s("RUN#1#MH#m"), "SK": _s("LATEST")},
                        "UpdateExpression": "SET #b0 = :b0, #b1 = :b1",
                        "ExpressionAttributeNames": {"#b0": "GSI2PK", "#b1": "value"},
                        "ExpressionAttributeValues": {":b0": _s("EXP#1#M#m"), ":b1": {"N": "1"}},
                    }
                },
            ]
        },
        {},
    )
    point = {"PK": _s("RUN#1#MH#m"), "SK": _s("0001")}
    lost = {"PK": _s("RUN#1#MH#m"), "SK": _s("0002")}
    counter.observe(
        "BatchWriteItem",
        {"RequestItems": {"t": [{"PutRequest": {"Item": point}}, {"PutRequest": {"Item": lost}}]}},
        {"UnprocessedItems": {"t": [{"PutRequest": {"Item": lost}}]}},
    )
    counter.observe("DeleteItem", {"Key": {"PK": _s("RUN#1"), "SK": _s("META")}}, {})
    counter.observe("GetItem", {"Key": {"PK": _s("RUN#1"), "SK": _s("META")}}, {})

    assert dict(counter.counts) == {
        ("table", "RUN#1"): 3,  # put, update, delete
        ("GSI1", "EXP#1#RUNS"): 3,
        ("table", "RUN#1#MH#m"): 2,  # the LATEST update and the processed point
        ("GSI2", "EXP#1#M#m"): 1,
    }
    assert counter.total == 9
    assert counter.hottest(1)[0][2] == 3
