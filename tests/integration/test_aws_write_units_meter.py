"""The AWS write-unit meter against DynamoDB Local: its shadow of each item written by a
training loop (puts, the step's UpdateItems with list_append and map paths, flushes) has the
size of the item DynamoDB stores, and a steady 10-key step is billed as AWS's rules say."""

from __future__ import annotations

from mlflow.entities import Metric, Param

from mlflow_dynamodbstore.gateway.aws_write_units import AwsWriteUnits, item_size
from mlflow_dynamodbstore.schema import table

KEYS = 10


def _step(step: int) -> list[Metric]:
    return [Metric(f"m{k}", (step * 3 + k) % 101 / 100, 1000 + step, step) for k in range(KEYS)]


def test_the_meters_shadow_matches_the_stored_items_and_bills_a_step(store):
    meter = AwsWriteUnits(table.index_key_attributes())
    store.gateway.observers.append(meter.observe)
    exp = store.create_experiment("meter")
    run_id = store.create_run(exp, "u", 1, [], "r").info.run_id
    store.log_batch(run_id, [], [Param(f"p{i}", "v" * 20) for i in range(30)], [])
    for step in range(25):  # past one buffer flush
        store.log_batch(run_id, _step(step), [], [])

    # every item the meter shadows has the size DynamoDB stores for it
    client, name = store.gateway.client, store.gateway.table_name
    checked = 0
    for (pk, sk), shadow in meter._items.items():
        stored = client.get_item(
            TableName=name, Key={"PK": {"S": pk}, "SK": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        if stored is None:
            continue
        assert item_size(shadow) == item_size(stored), (pk, sk)
        checked += 1
    assert checked >= KEYS + 2  # META, LIVE, the LATEST items (and blocks)

    meter.reset()
    store.log_batch(run_id, _step(25), [], [])
    units = meter.snapshot()
    # option D: one transaction of 1 item, the run's LIVE item (2 units per started KB: its
    # entries and up to 12 buffered points per key), and no index entry (issue #20: <= 14)
    assert units.items == 1
    assert units.table <= 14
    assert not units.indexes
