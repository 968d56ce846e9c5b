"""Evaluation dataset records too big for one DynamoDB item (repositories/datasets/parts.py):
round trips, merges into and out of part items, deletes, request counts of a page holding
one big record, concurrent merges of one big record, a reader racing a rewrite, the 10 MB
limit, and workspace deletion (CASCADE deletes the parts, SET_DEFAULT moves them)."""

from __future__ import annotations

import base64
import random
import threading
import time

import pytest
from boto3.dynamodb.conditions import Key
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.datasets import parts
from mlflow_dynamodbstore.repositories.datasets.records import DatasetRecordRepository
from mlflow_dynamodbstore.schema import dataset_keys, indexes
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.integration.test_workspace_deletion import keys_of, mentions, scan


def noise(compressed_bytes: int, seed: int = 0) -> str:
    """Text that zlib barely shrinks: base64 of random bytes compresses to about 3/4."""
    raw = random.Random(seed).randbytes(compressed_bytes)
    return base64.b64encode(raw).decode()


def _counts(store) -> dict[str, int]:
    return {op: s.requests for op, s in store.gateway.stats.snapshot().items() if s.requests}


def partition(store, dataset_id: str) -> list[dict]:
    return list(
        store.gateway.query(Key("PK").eq(dataset_keys.dataset_pk(dataset_id)), consistent=True)
    )


def part_items(store, dataset_id: str) -> list[dict]:
    prefix = dataset_keys.DATASET_RECORD_PART_PREFIX
    return [i for i in partition(store, dataset_id) if i["SK"].startswith(prefix)]


def heads(store, dataset_id: str) -> list[dict]:
    prefix = dataset_keys.DATASET_RECORD_PREFIX
    return [i for i in partition(store, dataset_id) if i["SK"].startswith(prefix)]


def all_records(store, dataset_id: str):
    records, token = store._load_dataset_records(dataset_id, max_results=None)
    assert token is None
    return {r.inputs["q"]: r for r in records}


def test_a_big_record_round_trips_through_part_items(store):
    ds = store.create_dataset("big")
    text = noise(1_000_000)  # ~1.33 MB of JSON, ~1 MB compressed: 3 parts
    result = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "small"}, "outputs": "short"},
            {"inputs": {"q": "big"}, "outputs": text, "expectations": {"e": 1}},
        ],
    )
    assert result == {"inserted": 2, "updated": 0}
    records = all_records(store, ds.dataset_id)
    assert records["big"].outputs == text and records["big"].expectations == {"e": 1}
    assert records["small"].outputs == "short"
    assert store.get_dataset(ds.dataset_id).profile == '{"num_records": 2}'

    (big_head,) = [h for h in heads(store, ds.dataset_id) if "gen" in h]
    assert "body" not in big_head and int(big_head["parts"]) == 3
    stored_parts = part_items(store, ds.dataset_id)
    assert sorted(p["SK"] for p in stored_parts) == [k["SK"] for k in parts.part_keys(big_head)]
    assert all(len(bytes(p["z"])) <= parts.PART_BYTES for p in stored_parts)
    # the record order (LSI3) lists heads only
    pattern = indexes.DATASET_RECORDS_BY_CREATION
    listed = list(
        store.gateway.query(
            pattern.pk_eq(dataset_keys.dataset_pk(ds.dataset_id)),
            index=pattern.index,
            consistent=True,
        )
    )
    assert sorted(i["SK"] for i in listed) == sorted(h["SK"] for h in heads(store, ds.dataset_id))


def test_merging_into_a_big_record_replaces_its_parts(store):
    ds = store.create_dataset("big")
    text = noise(800_000, seed=1)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}])
    (first_head,) = heads(store, ds.dataset_id)

    result = store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": "big"}, "expectations": {"answer": "yes"}}]
    )
    assert result == {"inserted": 0, "updated": 1}
    record = all_records(store, ds.dataset_id)["big"]
    assert record.outputs == text and record.expectations == {"answer": "yes"}
    (head,) = heads(store, ds.dataset_id)
    assert head["gen"] != first_head["gen"]
    # only the new generation's parts are left
    assert sorted(p["SK"] for p in part_items(store, ds.dataset_id)) == [
        k["SK"] for k in parts.part_keys(head)
    ]

    # a merge that makes it small: back into one item, no parts left
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": "tiny"}])
    record = all_records(store, ds.dataset_id)["big"]
    assert record.outputs == "tiny" and record.expectations == {"answer": "yes"}
    assert part_items(store, ds.dataset_id) == []
    (head,) = heads(store, ds.dataset_id)
    assert "body" in head and "gen" not in head

    # and big again
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}])
    assert all_records(store, ds.dataset_id)["big"].outputs == text
    assert store.get_dataset(ds.dataset_id).profile == '{"num_records": 1}'


def test_deleting_big_records_and_their_dataset_deletes_their_parts(store):
    ds = store.create_dataset("big")
    store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "a"}, "outputs": noise(500_000, seed=2)},
            {"inputs": {"q": "b"}, "outputs": noise(500_000, seed=3)},
            {"inputs": {"q": "c"}},
        ],
    )
    records = all_records(store, ds.dataset_id)
    assert len(part_items(store, ds.dataset_id)) == 4
    assert store.delete_dataset_records(ds.dataset_id, [records["a"].dataset_record_id]) == 1
    assert sorted(all_records(store, ds.dataset_id)) == ["b", "c"]
    assert len(part_items(store, ds.dataset_id)) == 2
    assert store.get_dataset(ds.dataset_id).profile == '{"num_records": 2}'

    store.delete_dataset(ds.dataset_id)
    assert partition(store, ds.dataset_id) == []


def test_request_counts_with_a_big_record(store):
    ds = store.create_dataset("big")
    stats = store.gateway.stats
    text = noise(1_000_000, seed=4)

    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": i}} for i in range(9)])
    time.sleep(0.01)  # the big record comes last in the record order

    stats.reset()
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}])
    # META, the existing records, the 3 parts (one BatchWriteItem), the transaction of the
    # heads, META's schema/digest update
    assert _counts(store) == {
        "GetItem": 1,
        "BatchGetItem": 1,
        "BatchWriteItem": 1,
        "TransactWriteItems": 1,
        "UpdateItem": 1,
    }

    stats.reset()
    records, token = store._load_dataset_records(ds.dataset_id, max_results=1000)
    assert len(records) == 10 and token is None
    # one Query of the heads, one BatchGetItem of the big record's parts
    assert _counts(store) == {"Query": 1, "BatchGetItem": 1}

    stats.reset()
    first, token = store._load_dataset_records(ds.dataset_id, max_results=5)
    assert len(first) == 5 and token
    assert not any(r.inputs["q"] == "big" for r in first)
    # a page without the big record reads none of its parts
    assert _counts(store) == {"Query": 1}

    stats.reset()
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "tags": {"t": "1"}}])
    # + the old parts (BatchGetItem), the new parts and the old ones freed (BatchWriteItem)
    assert _counts(store) == {
        "GetItem": 1,
        "BatchGetItem": 2,
        "BatchWriteItem": 2,
        "TransactWriteItems": 1,
        "UpdateItem": 1,
    }

    stats.reset()
    big = next(r for r in records if r.inputs["q"] == "big")
    assert store.delete_dataset_records(ds.dataset_id, [big.dataset_record_id]) == 1
    # the head (BatchGetItem), its delete with META's count, its parts freed
    assert _counts(store) == {"BatchGetItem": 1, "TransactWriteItems": 1, "BatchWriteItem": 1}
    assert part_items(store, ds.dataset_id) == []


def test_concurrent_merges_into_one_big_record_keep_both_and_one_generation(store, monkeypatch):
    ds = store.create_dataset("race")
    text = noise(700_000, seed=5)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}])

    # Both writers read the big record (head and parts) before either writes: both write
    # a new generation of parts, one head wins, the other loses, frees its parts, re-reads
    # the winner's record and merges into it.
    read_existing = DatasetRecordRepository._read_existing
    first_read = threading.Barrier(2, timeout=30)
    reads: dict[int, int] = {}

    def read_then_wait(self, dataset_id, pending):
        read_existing(self, dataset_id, pending)
        me = threading.get_ident()
        reads[me] = reads.get(me, 0) + 1
        if reads[me] == 1:
            first_read.wait()

    monkeypatch.setattr(DatasetRecordRepository, "_read_existing", read_then_wait)
    results: list[dict] = []
    errors: list[BaseException] = []

    def upsert(label: str) -> None:
        other = DynamoDBTrackingStore(store.store_uri, "s3://bucket/artifacts")
        try:
            results.append(
                other.upsert_dataset_records(
                    ds.dataset_id, [{"inputs": {"q": "big"}, "expectations": {label: 1}}]
                )
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=upsert, args=(label,)) for label in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(reads.values()) == [1, 2]  # the loser re-read the winner's record
    assert results == [{"inserted": 0, "updated": 1}] * 2
    record = all_records(store, ds.dataset_id)["big"]
    assert record.outputs == text and record.expectations == {"a": 1, "b": 1}
    (head,) = heads(store, ds.dataset_id)
    # the first generation, the loser's and the winner's are gone: only the last one is left
    assert sorted(p["SK"] for p in part_items(store, ds.dataset_id)) == [
        k["SK"] for k in parts.part_keys(head)
    ]
    assert store.get_dataset(ds.dataset_id).profile == '{"num_records": 1}'


def test_a_reader_racing_a_rewrite_gets_the_new_version_whole(store, monkeypatch):
    ds = store.create_dataset("race")
    text = noise(700_000, seed=6)
    store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}, {"inputs": {"q": "small"}}]
    )
    writer = DynamoDBTrackingStore(store.store_uri, "s3://bucket/artifacts")
    load = parts.load
    rewrites = []

    def rewrite_before_reading_parts(gateway, heads):
        # The reader holds the old heads; a writer now replaces the big record and frees
        # the parts those heads name (the writer's own reads go straight through).
        if not rewrites:
            rewrites.append(None)
            rewrites[0] = writer.upsert_dataset_records(
                ds.dataset_id, [{"inputs": {"q": "big"}, "expectations": {"new": True}}]
            )
        return load(gateway, heads)

    monkeypatch.setattr(parts, "load", rewrite_before_reading_parts)
    records, _ = store._load_dataset_records(ds.dataset_id, max_results=10)
    assert rewrites == [{"inserted": 0, "updated": 1}]
    by_q = {r.inputs["q"]: r for r in records}
    assert sorted(by_q) == ["big", "small"]
    assert by_q["big"].outputs == text and by_q["big"].expectations == {"new": True}


def test_a_reader_skips_a_big_record_deleted_under_it(store, monkeypatch):
    ds = store.create_dataset("race")
    store.upsert_dataset_records(
        ds.dataset_id,
        [{"inputs": {"q": "big"}, "outputs": noise(500_000, seed=7)}, {"inputs": {"q": "s"}}],
    )
    big = all_records(store, ds.dataset_id)["big"]
    writer = DynamoDBTrackingStore(store.store_uri, "s3://bucket/artifacts")
    load = parts.load
    deleted = []

    def delete_before_reading_parts(gateway, heads):
        if not deleted:
            deleted.append(writer.delete_dataset_records(ds.dataset_id, [big.dataset_record_id]))
        return load(gateway, heads)

    monkeypatch.setattr(parts, "load", delete_before_reading_parts)
    records, _ = store._load_dataset_records(ds.dataset_id, max_results=10)
    assert deleted == [1]
    assert [r.inputs["q"] for r in records] == ["s"]


def test_a_record_over_10_mb_compressed_is_refused_and_nothing_is_written(store):
    ds = store.create_dataset("huge")
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "small"}}])
    too_big = noise(parts.MAX_RECORD_BYTES + 200_000, seed=8)
    with pytest.raises(MlflowException, match="at most 10 MB compressed") as info:
        store.upsert_dataset_records(
            ds.dataset_id,
            [{"inputs": {"q": "other"}}, {"inputs": {"q": "huge"}, "outputs": too_big}],
        )
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    assert sorted(all_records(store, ds.dataset_id)) == ["small"]
    assert part_items(store, ds.dataset_id) == []
    assert store.get_dataset(ds.dataset_id).profile == '{"num_records": 1}'


def test_a_record_just_under_the_limit_is_stored(store):
    ds = store.create_dataset("largest")
    text = noise(parts.MAX_RECORD_BYTES - 300_000, seed=9)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "largest"}, "outputs": text}])
    assert all_records(store, ds.dataset_id)["largest"].outputs == text
    (head,) = heads(store, ds.dataset_id)
    assert int(head["parts"]) == len(part_items(store, ds.dataset_id)) > 20


# ---- workspace deletion ----------------------------------------------------------------
@pytest.fixture
def workspaces_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")


def _populate_big(store, workspace: str) -> str:
    with WorkspaceContext(workspace):
        ds = store.create_dataset(f"{workspace}-big")
        store.upsert_dataset_records(
            ds.dataset_id,
            [{"inputs": {"q": "big"}, "outputs": noise(900_000, seed=10)}, {"inputs": {"q": "s"}}],
        )
    return ds.dataset_id


def test_cascade_deletes_big_records_parts(workspaces_on, store_uri, ddb_client, table_name):
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    provider = DynamoDBWorkspaceProvider(store_uri)
    _populate_big(store, "default")
    before = keys_of(scan(ddb_client, table_name))
    provider.create_workspace(Workspace("team-a"))
    dataset_id = _populate_big(store, "team-a")
    with WorkspaceContext("team-a"):
        assert len(part_items(store, dataset_id)) == 3

    provider.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)

    assert keys_of(scan(ddb_client, table_name)) == before


def test_set_default_moves_big_records_with_their_parts(
    workspaces_on, store_uri, ddb_client, table_name
):
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace("team-a"))
    dataset_id = _populate_big(store, "team-a")

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)

    assert mentions(scan(ddb_client, table_name), "team-a") == []
    with WorkspaceContext("default"):
        assert all_records(store, dataset_id)["big"].outputs == noise(900_000, seed=10)
        moved = part_items(store, dataset_id)
        assert len(moved) == 3 and all("version" not in p for p in moved)
        # still writable where it went: a merge replaces the moved parts
        store.upsert_dataset_records(dataset_id, [{"inputs": {"q": "big"}, "tags": {"t": "1"}}])
        (head,) = [h for h in heads(store, dataset_id) if "gen" in h]
        assert sorted(p["SK"] for p in part_items(store, dataset_id)) == [
            k["SK"] for k in parts.part_keys(head)
        ]
        assert all_records(store, dataset_id)["big"].tags == {"t": "1"}


def test_parts_missing_under_every_read_give_temporarily_unavailable(store):
    # Only a writer that rewrites the record between every two reads could do this; parts
    # removed behind the store's back stand in for it.
    ds = store.create_dataset("broken")
    store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": noise(500_000, seed=11)}]
    )
    store.gateway.batch_write(deletes=parts.item_keys(part_items(store, ds.dataset_id)))
    with pytest.raises(MlflowException) as info:
        store._load_dataset_records(ds.dataset_id, max_results=10)
    assert info.value.error_code == "TEMPORARILY_UNAVAILABLE"
