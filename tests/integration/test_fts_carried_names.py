"""Request and read-unit counts of name searches whose postings carry the name
(fts/postings.py CARRYING_FIELDS): the first posting list read settles every candidate, so
only the matches are batch-read even when the pattern's trigrams cannot narrow (dates,
versions, ``_`` wildcards); postings without the name (a table from before) still work,
through the intersection and the reads as before. And what it costs a write."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Key

from mlflow_dynamodbstore.repositories.experiments import name_document
from mlflow_dynamodbstore.repositories.registry.registered_models import (
    name_document as model_name_document,
)
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.fts.helpers import counted, ops


@pytest.fixture
def registry(store_uri):
    return DynamoDBRegistryStore(store_uri)


def _dated_experiments(store) -> dict[str, str]:
    """ocr-bert experiments of 3 months: every trigram of '%ocr-bert-2025-03%' but -03 is in
    all 24 names, and "-03" (month or day 03) in most."""
    return {
        name: store.create_experiment(name)
        for name in (
            f"ocr-bert-2025-{month:02d}-{day:02d}" for month in (1, 2, 3) for day in range(1, 9)
        )
    }


def test_carried_names_leave_only_the_matches_to_read(store):
    _dated_experiments(store)
    store.search_experiments(filter_string="name LIKE '%warm%'")  # readiness is cached
    page, stats = counted(
        store, lambda: store.search_experiments(filter_string="name LIKE '%ocr-bert-2025-03%'")
    )
    assert sorted(e.name for e in page) == [f"ocr-bert-2025-03-{d:02d}" for d in range(1, 9)]
    # the first list (the junction "r-b": all 24) settles every candidate by its name
    assert ops(stats) == {"Query": FTS_SHARDS, "BatchGetItem": 1}
    assert stats["BatchGetItem"].read_capacity == 8 * 0.5  # nothing but the 8 matches


def test_postings_without_the_name_are_intersected_and_read(store):
    """A table written before names were carried: the same results, the earlier cost (the
    lists are intersected, the candidates read and verified)."""
    ids = _dated_experiments(store)
    for name, experiment_id in ids.items():
        store.gateway.unscoped.batch_write(puts=name_document("default", experiment_id).keys(name))
    store.search_experiments(filter_string="name LIKE '%warm%'")
    page, stats = counted(
        store, lambda: store.search_experiments(filter_string="name LIKE '%ocr-bert-2025-03%'")
    )
    assert sorted(e.name for e in page) == [f"ocr-bert-2025-03-{d:02d}" for d in range(1, 9)]
    assert ops(stats)["Query"] == 3 * FTS_SHARDS  # three lists, none narrows past 24
    assert stats["BatchGetItem"].read_capacity == 24 * 0.5


def test_models_and_versions_with_a_wildcard_read_only_the_matches(registry):
    """'%speech_ocr_t5%': ``_`` is a wildcard, so the literals are speech, ocr and t5; the
    trigrams list every speech_ocr model, the carried names leave the t5 ones."""
    for family in ("t5", "bert", "gpt", "lstm", "xgb"):
        for v in (1, 2):
            registry.create_registered_model(f"speech_ocr_{family}_v{v}")
    registry.search_registered_models(filter_string="name LIKE '%warm%'")
    page, stats = counted(
        registry,
        lambda: registry.search_registered_models(filter_string="name LIKE '%speech_ocr_t5%'"),
    )
    assert [m.name for m in page] == ["speech_ocr_t5_v1", "speech_ocr_t5_v2"]
    assert ops(stats) == {"Query": FTS_SHARDS, "BatchGetItem": 1}
    assert stats["BatchGetItem"].read_capacity == 2 * 0.5
    registry.create_model_version("speech_ocr_t5_v1", "s3://b/1")
    registry.create_model_version("speech_ocr_bert_v1", "s3://b/2")
    registry.search_model_versions(filter_string="name LIKE '%warm%'")
    versions, stats = counted(
        registry,
        lambda: registry.search_model_versions(filter_string="name ILIKE '%SPEECH_OCR_T5%'"),
    )
    assert [(v.name, int(v.version)) for v in versions] == [("speech_ocr_t5_v1", 1)]
    # the posting list, then the partitions of the 2 matching models (not the 10 listed)
    assert ops(stats) == {"Query": FTS_SHARDS + 2}


def _carried(gateway, document, trigram: str):
    key = document.key_of(trigram)
    items = gateway.query(Key("PK").eq(key["PK"]) & Key("SK").eq(key["SK"]))
    return [item.get(fts_keys.CARRIED_TEXT) for item in items]


def test_writes_carry_the_name_in_the_same_requests(store, registry):
    """A create is still 1 read + 1 transaction; a rename rewrites every posting of the new
    name (a shared trigram's too) in its one transaction."""
    _, created = counted(store, lambda: store.create_experiment("fraud-churn-2025-01"))
    assert ops(created) == {"GetItem": 1, "TransactWriteItems": 1}
    experiment_id = store.get_experiment_by_name("fraud-churn-2025-01").experiment_id
    document = name_document("default", experiment_id)
    gateway = store.gateway.unscoped
    assert _carried(gateway, document, "chu") == ["fraud-churn-2025-01"]

    _, renamed = counted(
        store, lambda: store.rename_experiment(experiment_id, "fraud-churn-2025-02")
    )
    assert ops(renamed)["TransactWriteItems"] == 1 and "BatchWriteItem" not in ops(renamed)
    assert _carried(gateway, document, "chu") == ["fraud-churn-2025-02"]  # shared: rewritten
    assert _carried(gateway, document, "-01") == []  # only the old name had it

    _, model_created = counted(registry, lambda: registry.create_registered_model("fraud_v1"))
    assert ops(model_created) == {"TransactWriteItems": 1}
    long_name = "fraud_v1_" + "x" * 130  # over 128 bytes: its postings carry nothing
    registry.rename_registered_model("fraud_v1", long_name)
    model_id = registry.models.find("default", long_name)["model_id"]
    model_document = model_name_document("default", model_id)
    assert _carried(registry.gateway.unscoped, model_document, "fra") == [None]


def test_backfill_writes_carried_names_conditioned_on_the_name(store):
    """``fts backfill`` rewrites bare postings (a table from before) carrying the name, each
    entity's in one transaction conditioned on the name it listed; a listing that lags
    behind a rename gets the current name's postings bare, never the old name carried."""
    from mlflow_dynamodbstore.backfills import fts as fts_backfill

    ids = _dated_experiments(store)
    gateway = store.gateway.unscoped
    for name, experiment_id in ids.items():
        gateway.batch_write(puts=name_document("default", experiment_id).keys(name))
    document = name_document("default", ids["ocr-bert-2025-03-01"])
    assert _carried(gateway, document, "r-b") == [None]

    report = fts_backfill.backfill_fts(gateway, settle_seconds=0)
    assert report.entities["experiment_name"] >= 24
    assert _carried(gateway, document, "r-b") == ["ocr-bert-2025-03-01"]
    store.search_experiments(filter_string="name LIKE '%warm%'")
    page, stats = counted(
        store, lambda: store.search_experiments(filter_string="name LIKE '%ocr-bert-2025-03%'")
    )
    assert len(page) == 8 and stats["BatchGetItem"].read_capacity == 8 * 0.5

    # a listing that lags: the entity is named otherwise by now
    units = fts_backfill._units(gateway, "default", None)
    unit = next(u for u in units if u.field == "experiment_name")
    listed = {"experiment_id": ids["ocr-bert-2025-03-01"], "name": "ocr-bert-2025-03-01"}
    store.rename_experiment(ids["ocr-bert-2025-03-01"], "ocr-bert-2025-05-01")
    written = fts_backfill._write_carrying(gateway, unit, listed)
    assert written == len(document.keys("ocr-bert-2025-05-01"))
    assert _carried(gateway, document, "r-b") == [None]  # bare: safe, read and verified
    names = [e.name for e in store.search_experiments(filter_string="name LIKE '%2025-05%'")]
    assert names == ["ocr-bert-2025-05-01"]
