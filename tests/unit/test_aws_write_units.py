"""The AWS write-unit meter: item sizes by AWS's rules, 1 KB units, doubled inside a
transaction, plus each index the item is (or was) in, a delete and a put when an index key
changes; updates applied to a shadow of the item."""

from __future__ import annotations

from mlflow_dynamodbstore.gateway.aws_write_units import (
    AwsWriteUnits,
    apply_update,
    item_size,
    value_size,
    write_units,
)
from mlflow_dynamodbstore.schema import table


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: str) -> dict:
    return {"N": value}


def _meter() -> AwsWriteUnits:
    return AwsWriteUnits({"GSI1": ("GSI1PK", "GSI1SK"), "LSI1": ("LSI1SK",)})


def test_sizes_follow_aws_rules():
    assert value_size(_s("abc")) == 3
    assert value_size(_s("é")) == 2  # UTF-8 bytes
    assert value_size(_n("12345")) == 4  # ceil(5 / 2) + 1
    assert value_size(_n("1.500")) == 2  # trailing zeros are not significant
    assert value_size({"BOOL": True}) == 1 and value_size({"NULL": True}) == 1
    assert value_size({"L": [_s("ab"), _n("1")]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": _s("v")}}) == 3 + 1 + 1 + 1
    assert item_size({"PK": _s("RUN#1"), "n": _n("7")}) == 2 + 5 + 1 + 2
    assert write_units(1) == 1 and write_units(1024) == 1 and write_units(1025) == 2
    assert write_units(0) == 1  # a delete of a missing item is still one unit


def test_update_expressions_the_package_writes():
    item = {"PK": _s("P"), "SK": _s("S"), "recent": {"L": [_s("a")]}, "m": {"M": {}}}
    after = apply_update(
        item,
        "SET #m.#k0 = :e0, #rb = list_append(if_not_exists(#rb, :empty), :rp), "
        "#v = if_not_exists(#v, :zero) + :one REMOVE #gone ADD #ver :one",
        {"#m": "m", "#k0": "a.b", "#rb": "recent", "#v": "count", "#gone": "x", "#ver": "ver"},
        {
            ":e0": _n("1"),
            ":rp": {"L": [_s("b")]},
            ":empty": {"L": []},
            ":zero": _n("0"),
            ":one": _n("1"),
        },
    )
    assert after["m"] == {"M": {"a.b": _n("1")}}
    assert after["recent"] == {"L": [_s("a"), _s("b")]}
    assert after["count"] == _n("1") and after["ver"] == _n("1")
    assert item["recent"] == {"L": [_s("a")]}  # the shadow's old state is left alone


def test_a_transaction_doubles_table_units_and_bills_each_index():
    meter = _meter()
    indexed = {
        "PK": _s("RUN#1"),
        "SK": _s("LATEST"),
        "GSI1PK": _s("EXP#1#M"),
        "GSI1SK": _s("0001"),
        "value": _n("1"),
    }
    meter.observe("TransactWriteItems", {"TransactItems": [{"Put": {"Item": indexed}}]}, {})
    assert meter.units.table == 2 and meter.units.indexes == {"GSI1": 1}
    meter.reset()
    # the same item, its GSI1 sort key changed: a delete and a put in the index
    update = {
        "Key": {"PK": _s("RUN#1"), "SK": _s("LATEST")},
        "UpdateExpression": "SET #k = :k",
        "ExpressionAttributeNames": {"#k": "GSI1SK"},
        "ExpressionAttributeValues": {":k": _s("0002")},
    }
    meter.observe("UpdateItem", update, {})
    assert meter.units.table == 1 and meter.units.indexes == {"GSI1": 2}
    meter.reset()
    # a value change under the same index key: one index write
    same = {**update, "ExpressionAttributeNames": {"#k": "value"}}
    meter.observe("UpdateItem", {**same, "ExpressionAttributeValues": {":k": _n("2")}}, {})
    assert meter.units.total == 2 and meter.units.indexes == {"GSI1": 1}
    meter.reset()
    # an item without index keys, a condition check: table units only (and check reads)
    plain = {"PK": _s("RUN#1"), "SK": _s("LIVE"), "metrics": {"M": {}}}
    check = {"ConditionCheck": {"Key": {"PK": _s("RUN#1"), "SK": _s("LATEST")}}}
    meter.observe("TransactWriteItems", {"TransactItems": [{"Put": {"Item": plain}}, check]}, {})
    assert meter.units.total == 2 and meter.units.items == 1
    assert meter.units.condition_check_read_units == 2
    meter.reset()
    meter.observe("DeleteItem", {"Key": {"PK": _s("RUN#1"), "SK": _s("LATEST")}}, {})
    assert meter.units.table == 1 and meter.units.indexes == {"GSI1": 1}


def test_index_writes_in_a_transaction_can_be_read_as_doubled():
    meter = AwsWriteUnits({"GSI1": ("GSI1PK", "GSI1SK")}, index_factor_in_transactions=2)
    item = {"PK": _s("A"), "SK": _s("1"), "GSI1PK": _s("X"), "GSI1SK": _s("1")}
    meter.observe("TransactWriteItems", {"TransactItems": [{"Put": {"Item": item}}]}, {})
    assert meter.units.table == 2 and meter.units.indexes == {"GSI1": 2}
    meter.observe("PutItem", {"Item": item}, {})  # outside a transaction: 1 and 1
    assert meter.units.table == 3 and meter.units.indexes == {"GSI1": 3}


def test_sizes_round_up_per_kilobyte_and_updates_bill_the_larger_image():
    meter = _meter()
    big = {"PK": _s("P"), "SK": _s("S"), "LSI1SK": _s("x"), "blob": _s("a" * 1500)}
    meter.observe("PutItem", {"Item": big}, {})
    assert meter.units.table == 2 and meter.units.indexes == {"LSI1": 2}
    meter.reset()
    # shrinking the item is billed at its size before the write
    shrink = {
        "Key": {"PK": _s("P"), "SK": _s("S")},
        "UpdateExpression": "REMOVE #b",
        "ExpressionAttributeNames": {"#b": "blob"},
    }
    meter.observe("UpdateItem", shrink, {})
    assert meter.units.table == 2 and meter.units.indexes == {"LSI1": 2}


def test_batch_writes_count_processed_requests_only():
    meter = _meter()
    a = {"PK": _s("A"), "SK": _s("1")}
    b = {"PK": _s("B"), "SK": _s("1")}
    request = {"RequestItems": {"t": [{"PutRequest": {"Item": a}}, {"PutRequest": {"Item": b}}]}}
    unprocessed = {"UnprocessedItems": {"t": [{"PutRequest": {"Item": b}}]}}
    meter.observe("BatchWriteItem", request, unprocessed)
    assert meter.units.total == 1 and meter.units.items == 1
    meter.observe("GetItem", {"Key": a}, {})  # reads are not writes
    assert meter.units.total == 1


def test_the_tables_index_key_attributes():
    found = table.index_key_attributes()
    assert found["GSI2"] == ("GSI2PK", "GSI2SK") and found["LSI5"] == ("LSI5SK",)
    assert len(found) == table.GSI_COUNT + table.LSI_COUNT
