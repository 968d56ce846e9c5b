"""Request counts of indexed name searches (deterministic): an indexed search reads the
posting lists of its trigrams (one Query per shard) and the candidates (one BatchGetItem),
never the collection's listing."""

from __future__ import annotations

import pytest
from mlflow.entities import ViewType

from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.fts.helpers import counted, ops


@pytest.fixture
def registry(store_uri):
    return DynamoDBRegistryStore(store_uri)


def test_experiment_name_search_reads_postings_and_candidates(store):
    for i in range(60):
        store.create_experiment(f"experiment-{i:03d}-{'zqx' if i in (7, 42) else 'abc'}")
    store.search_experiments(filter_string="name LIKE '%warm%'")  # readiness is cached
    page, stats = counted(
        store, lambda: store.search_experiments(filter_string="name LIKE '%zqx%'")
    )
    assert [e.name for e in page] == ["experiment-042-zqx", "experiment-007-zqx"]
    # one trigram: its posting list (one Query per shard), then the 2 candidates
    assert ops(stats) == {"Query": FTS_SHARDS, "BatchGetItem": 1}

    # a pattern that cannot narrow (2 characters) walks the listing as before
    _, full = counted(store, lambda: store.search_experiments(filter_string="name LIKE '%zq%'"))
    assert "BatchGetItem" not in ops(full)


def test_run_name_search_reads_postings_and_candidates(store):
    exp = store.create_experiment("e")
    for i in range(60):
        store.create_run(exp, "u", i, [], f"run-{i:03d}-{'kvq' if i % 30 == 3 else 'abc'}")
    store.search_runs([exp], "attributes.run_name LIKE '%warm%'", ViewType.ALL)
    runs, stats = counted(
        store, lambda: store.search_runs([exp], "attributes.run_name ILIKE '%KVQ%'", ViewType.ALL)
    )
    assert sorted(r.info.run_name for r in runs) == ["run-003-kvq", "run-033-kvq"]
    # the experiment, the posting list, the candidate METAs, the matches' LIVE items
    # (option D: every run has one, docs/access-patterns.md)
    assert ops(stats) == {"BatchGetItem": 3, "Query": FTS_SHARDS}


def test_registered_model_search_reads_postings_and_candidates(registry):
    for i in range(40):
        registry.create_registered_model(f"model-{i:03d}-{'wyj' if i == 5 else 'abc'}")
    registry.search_registered_models(filter_string="name LIKE '%warm%'")
    page, stats = counted(
        registry, lambda: registry.search_registered_models(filter_string="name LIKE 'model-%wyj'")
    )
    assert [m.name for m in page] == ["model-005-wyj"]
    # "wyj" is read first (rarest); 1 candidate is few enough to stop; 1 BatchGetItem
    assert ops(stats) == {"Query": FTS_SHARDS, "BatchGetItem": 1}


def test_unready_index_takes_the_full_path(store):
    """Without the ready marker (a table from before the index, not backfilled yet) the
    search reads the collection as before."""
    for i in range(5):
        store.create_experiment(f"exp-{i}-zqx")
    READINESS.mark(store.gateway.unscoped, "experiment_name", False)
    try:
        page, stats = counted(
            store, lambda: store.search_experiments(filter_string="name LIKE '%zqx%'")
        )
        assert len(page) == 5
        assert "BatchGetItem" not in ops(stats)  # the GSI1 walk, not candidates
    finally:
        READINESS.mark(store.gateway.unscoped, "experiment_name", True)


def test_logged_model_search_reads_postings_and_candidates(store):
    exp = store.create_experiment("e")
    for i in range(30):
        store.create_logged_model(exp, name=f"lm-{i:03d}-{'pqj' if i in (4, 9) else 'abc'}")
    store.search_logged_models([exp], filter_string="name LIKE '%warm%'")
    page, stats = counted(
        store, lambda: store.search_logged_models([exp], filter_string="name LIKE '%pqj'")
    )
    assert [m.name for m in page] == ["lm-009-pqj", "lm-004-pqj"]
    assert ops(stats) == {"Query": FTS_SHARDS, "BatchGetItem": 1}


def test_model_version_search_reads_postings_and_the_models(registry):
    for i in range(30):
        registry.create_registered_model(f"model-{i:03d}-{'wyj' if i == 5 else 'abc'}")
    registry.create_model_version("model-005-wyj", "s3://b/1")
    registry.create_model_version("model-006-abc", "s3://b/2")
    registry.search_model_versions(filter_string="name LIKE '%warm%'")
    page, stats = counted(
        registry, lambda: registry.search_model_versions(filter_string="name ILIKE '%WYJ%'")
    )
    assert [(v.name, int(v.version)) for v in page] == [("model-005-wyj", 1)]
    # the posting list, then the one candidate model's partition
    assert ops(stats) == {"Query": FTS_SHARDS + 1}


def test_a_selective_search_reads_its_matches_and_one_posting_list(store):
    """Names shaped like real ones (<team>-<task>-<n>): the junction "k-o" of
    '%risk-ocr%' lists only the 3 risk-ocr experiments, so one posting list (one Query per
    shard) and the 3 matches are read. The rarest-letter guess read "sk-" (every risk-*
    experiment, 12 candidates) instead."""
    for team in ("fraud", "risk", "ads", "ops"):
        for task in ("churn", "ranking", "ocr", "ner"):
            for i in range(3):
                store.create_experiment(f"{team}-{task}-{i:02d}")
    store.search_experiments(filter_string="name LIKE '%warm%'")  # readiness is cached
    page, stats = counted(
        store, lambda: store.search_experiments(filter_string="name LIKE '%risk-ocr%'")
    )
    assert sorted(e.name for e in page) == ["risk-ocr-00", "risk-ocr-01", "risk-ocr-02"]
    assert ops(stats) == {"Query": FTS_SHARDS, "BatchGetItem": 1}
    # only the 3 matches are batch-read (0.5 read unit each); each shard's posting list is
    # under 4 KB: at most 0.5 a Query (DynamoDB Local reports 0 for an empty shard)
    assert stats["BatchGetItem"].read_capacity == 3 * 0.5
    assert stats["Query"].read_capacity <= FTS_SHARDS * 0.5


def test_run_name_search_reads_the_word_junction_first(store):
    """MLflow's own run names (<adjective>-<animal>-<n>): '%jolly-quokka%' reads the
    junction "y-q" (only the 4 jolly quokkas here), not the rarest-looking letters of
    "quokka" (every quokka run), then the 4 matches."""
    exp = store.create_experiment("e")
    for i, adjective in enumerate(("lazy", "brave", "calm", "jolly") * 4):
        store.create_run(exp, "u", i, [], f"{adjective}-{'quokka' if i % 2 else 'otter'}-{i}")
    store.search_runs([exp], "attributes.run_name LIKE '%warm%'", ViewType.ALL)
    runs, stats = counted(
        store, lambda: store.search_runs([exp], "run_name LIKE '%jolly-quokka%'", ViewType.ALL)
    )
    assert sorted(r.info.run_name for r in runs) == [f"jolly-quokka-{i}" for i in (11, 15, 3, 7)]
    # the experiment, the 4 runs and their LIVE items (3 BatchGetItem; option D: every run
    # has one, docs/access-patterns.md), the junction's list (1 Query a shard)
    assert ops(stats) == {"BatchGetItem": 3, "Query": FTS_SHARDS}
    assert stats["BatchGetItem"].read_capacity == 0.5 + 4 * 2 * 0.5  # nothing but the matches
