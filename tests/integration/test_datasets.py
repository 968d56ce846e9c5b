"""Evaluation datasets on DynamoDB Local: request counts (as docs/access-patterns.md states
them), concurrent upserts, large datasets paged, and the entity's lazy
loading through the store MLflow resolves from the tracking URI. Records too big for one
item: test_datasets_big_records.py."""

from __future__ import annotations

import json
import threading

import mlflow

from mlflow_dynamodbstore.repositories.datasets.records import DatasetRecordRepository
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore


def _counts(store) -> dict[str, int]:
    return {op: s.requests for op, s in store.gateway.stats.snapshot().items() if s.requests}


def test_request_counts_of_the_common_calls(store):
    e = store.create_experiment("e")
    stats = store.gateway.stats

    stats.reset()
    ds = store.create_dataset("d", tags={"k": "v"}, experiment_ids=[e])
    assert _counts(store) == {"TransactWriteItems": 1}

    stats.reset()
    result = store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"i": i}, "expectations": {"y": i}} for i in range(150)]
    )
    assert result == {"inserted": 150, "updated": 0}
    # META, the existing records (2 x 100 keys), 2 transactions (99 + 51 records, each with
    # META's count), META's schema/digest update.
    assert _counts(store) == {
        "GetItem": 1,
        "BatchGetItem": 2,
        "TransactWriteItems": 2,
        "UpdateItem": 1,
    }

    stats.reset()
    assert store.get_dataset(ds.dataset_id).profile == '{"num_records": 150}'
    assert _counts(store) == {"GetItem": 1}

    stats.reset()
    records, token = store._load_dataset_records(ds.dataset_id, max_results=100)
    assert len(records) == 100 and token
    assert _counts(store) == {"Query": 1}
    stats.reset()
    rest, end = store._load_dataset_records(ds.dataset_id, max_results=100, page_token=token)
    assert len(rest) == 50 and end is None
    assert _counts(store) == {"Query": 1}

    stats.reset()
    assert [d.dataset_id for d in store.search_datasets()] == [ds.dataset_id]
    assert _counts(store) == {"Query": 1}
    stats.reset()
    assert [d.dataset_id for d in store.search_datasets(experiment_ids=[e])] == [ds.dataset_id]
    assert _counts(store) == {"Query": 1, "BatchGetItem": 1}

    stats.reset()
    assert store.get_dataset_experiment_ids(ds.dataset_id) == [e]
    assert _counts(store) == {"Query": 1}

    stats.reset()
    store.set_dataset_tags(ds.dataset_id, {"a": "1", "b": "2"})
    store.delete_dataset_tag(ds.dataset_id, "a")
    assert _counts(store) == {"UpdateItem": 2}

    stats.reset()
    assert store.delete_dataset_records(ds.dataset_id, [r.dataset_record_id for r in rest]) == 50
    assert _counts(store) == {"BatchGetItem": 1, "TransactWriteItems": 1}


def test_a_search_page_does_not_read_the_whole_workspace(store, monkeypatch):
    for i in range(30):
        store.create_dataset(f"d{i}")
    store.gateway.stats.reset()
    page = store.search_datasets(max_results=5)
    assert [d.name for d in page] == [f"d{i}" for i in range(29, 24, -1)] and page.token
    assert _counts(store) == {"Query": 1}
    # the Query asked for the page and one more, not the whole listing
    limits = []
    query_page = store.gateway.unscoped.query_page

    def spy(*args, **kwargs):
        limits.append(kwargs.get("limit"))
        return query_page(*args, **kwargs)

    monkeypatch.setattr(store.gateway.unscoped, "query_page", spy)
    store.search_datasets(max_results=5)
    assert limits == [6]
    limits.clear()
    # a filter that rejects the newest datasets makes the walk go on with a page twice as big
    assert len(store.search_datasets(filter_string="name LIKE 'd1%'", max_results=5)) == 5
    assert limits == [6, 12]


def test_concurrent_upserts_of_the_same_inputs_make_one_record_each(store, monkeypatch):
    ds = store.create_dataset("race")
    n = 40
    barrier = threading.Barrier(2)
    # Both upserts read "no such records" before either writes: both try to insert every
    # record, and the conditional puts must turn one of them into merges.
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
        barrier.wait()
        try:
            results.append(
                other.upsert_dataset_records(
                    ds.dataset_id,
                    [{"inputs": {"i": i}, "expectations": {label: i}} for i in range(n)],
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
    assert sorted(reads.values()) == [1, 2]  # the loser re-read the winner's records
    assert sum(r["inserted"] for r in results) == n
    assert sum(r["updated"] for r in results) == n
    records, _ = store._load_dataset_records(ds.dataset_id, max_results=None)
    assert len(records) == n
    assert all(r.expectations == {"a": r.inputs["i"], "b": r.inputs["i"]} for r in records)
    final = store.get_dataset(ds.dataset_id)
    assert final.profile == f'{{"num_records": {n}}}'
    # both upserts read META before either wrote it: the later schema merge re-read it
    assert json.loads(final.schema)["expectations"] == {"a": "integer", "b": "integer"}


def test_a_dataset_of_thousands_of_records_pages_in_order(store):
    ds = store.create_dataset("large")
    n = 2500
    for start in range(0, n, 500):
        store.upsert_dataset_records(
            ds.dataset_id,
            [{"inputs": {"i": i, "text": "x" * 200}} for i in range(start, start + 500)],
        )
    seen, token, pages = [], None, 0
    store.gateway.stats.reset()
    while True:
        records, token = store._load_dataset_records(
            ds.dataset_id, max_results=1000, page_token=token
        )
        seen.extend(records)
        pages += 1
        if not token:
            break
    assert len(seen) == n and len({r.dataset_record_id for r in seen}) == n
    keys = [(r.created_time, r.dataset_record_id) for r in seen]
    assert keys == sorted(keys)
    assert pages == 3 and store.gateway.stats.requests("Query") <= 6
    assert store.get_dataset(ds.dataset_id).profile == f'{{"num_records": {n}}}'
    store.delete_dataset(ds.dataset_id)
    assert store._load_dataset_records(ds.dataset_id, max_results=None) == ([], None)


def test_search_results_load_records_and_experiments_lazily(store, store_uri, monkeypatch):
    e = store.create_experiment("e")
    ds = store.create_dataset("lazy", experiment_ids=[e])
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": 1}}, {"inputs": {"q": 2}}])
    mlflow.set_tracking_uri(store_uri)
    (found,) = store.search_datasets()
    assert not found.has_records()
    assert sorted(r.inputs["q"] for r in found.records) == [1, 2]
    assert found.experiment_ids == [e]
    assert len(found.to_df()) == 2
