"""Records too big for one DynamoDB item (their compressed body in part items here; one
JSON column in SQL): stored, merged, paged and deleted as the SQL store does. Beyond 10 MB
compressed the DynamoDB store refuses a record (a documented difference, tested in
tests/integration/test_datasets_big_records.py)."""

from __future__ import annotations

import base64
import hashlib
import random
from typing import Any

from tests.differential.harness import attempt
from tests.differential_datasets.helpers import records_of
from tests.differential_datasets.registry import scenario


def noise(compressed_bytes: int, seed: int) -> str:
    """Text that zlib barely shrinks (base64 of random bytes): the compressed body of a
    record holding it is about ``compressed_bytes``, beyond one item from ~400 KB on."""
    return base64.b64encode(random.Random(seed).randbytes(compressed_bytes)).decode()


def short(value: Any) -> Any:
    """Long strings as their length and hash, so a difference stays readable."""
    if isinstance(value, str) and len(value) > 200:
        return f"<{len(value)} chars sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]}>"
    if isinstance(value, dict):
        return {k: short(v) for k, v in value.items()}
    if isinstance(value, list):
        return [short(v) for v in value]
    return value


def summary(records) -> list[dict]:
    return [short(r.to_dict()) for r in records]


@scenario()
def big_records_round_trip(store):
    ds = store.create_dataset("big")
    result = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "small"}, "outputs": "short"},
            {"inputs": {"q": "big"}, "outputs": noise(900_000, 1), "expectations": {"e": 1}},
            {"inputs": {"q": "big inputs", "doc": noise(500_000, 2)}, "tags": {"k": "v"}},
        ],
    )
    return [result, store.get_dataset(ds.dataset_id), summary(records_of(store, ds.dataset_id))]


@scenario()
def merges_into_a_big_record(store):
    ds = store.create_dataset("big")
    text = noise(700_000, 3)
    store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": text}])
    merged = store.upsert_dataset_records(
        ds.dataset_id,
        [
            {"inputs": {"q": "big"}, "expectations": {"answer": "yes"}},
            {"inputs": {"q": "big"}, "tags": {"mlflow.user": "bob"}},
        ],
    )
    after_merge = summary(records_of(store, ds.dataset_id))
    shrunk = store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": "big"}, "outputs": "tiny"}]
    )
    after_shrink = summary(records_of(store, ds.dataset_id))
    grown = store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": "big"}, "expectations": {"long": noise(600_000, 4)}}]
    )
    return [
        merged,
        after_merge,
        shrunk,
        after_shrink,
        grown,
        store.get_dataset(ds.dataset_id),
        summary(records_of(store, ds.dataset_id)),
    ]


@scenario()
def big_records_page_and_delete(store):
    ds = store.create_dataset("big")
    for i in range(5):  # one upsert per record: distinct creation times, a defined order
        outputs = noise(450_000, 10 + i) if i % 2 == 0 else f"small {i}"
        store.upsert_dataset_records(ds.dataset_id, [{"inputs": {"i": i}, "outputs": outputs}])
    pages, token = [], None
    while True:
        records, token = store._load_dataset_records(ds.dataset_id, max_results=2, page_token=token)
        pages.append(summary(records))
        if token is None:
            break
    ids = [r.dataset_record_id for r in records_of(store, ds.dataset_id)]
    deleted = store.delete_dataset_records(ds.dataset_id, [ids[0], ids[1], ids[4]])
    return [
        pages,
        deleted,
        store.get_dataset(ds.dataset_id),
        summary(records_of(store, ds.dataset_id)),
    ]


@scenario()
def deleting_a_dataset_with_big_records(store):
    ds = store.create_dataset("big")
    store.upsert_dataset_records(
        ds.dataset_id, [{"inputs": {"q": i}, "outputs": noise(450_000, 20 + i)} for i in range(2)]
    )
    store.delete_dataset(ds.dataset_id)
    return [
        attempt(lambda: store.get_dataset(ds.dataset_id)),
        store._load_dataset_records(ds.dataset_id),
    ]
