"""Registered model tag values in the trigram index (``model_tag_value``, opt-in): postings
follow create, set (overwrite), delete, model deletion, workspace moves and cascades
exactly; an indexed search reads only the posting lists and the candidates; the write
overhead per set_registered_model_tag; the backfill builds them for older models."""

from __future__ import annotations

import json
import threading

import pytest
from mlflow.entities.model_registry import RegisteredModelTag

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.config.source import REFRESH_SECONDS_ENV
from mlflow_dynamodbstore.fts.field_postings import MODEL_TAG_VALUE, VALUE_CAP
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.repositories.registry.model_tag_values import tag_posting_keys
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.fts.helpers import refresh_settings_now, run_cli
from tests.fts.tag_value_postings import (
    expected_postings,
    request_counts,
    requests_but_getitem,
    stored_postings,
)

WS = "default"
LONG = "".join(chr(0x4E00 + i) for i in range(VALUE_CAP + 50)) + "-tail"


def _postings(gateway) -> set[tuple[str, str]]:
    return stored_postings(gateway, MODEL_TAG_VALUE)


def _expected(*tags: tuple[str, str, str], workspace: str = WS) -> set[tuple[str, str]]:
    """Postings of (model id, key, value)."""
    return expected_postings(tag_posting_keys, tags, workspace)


_ops, _reads = request_counts, requests_but_getitem


def _id(registry, name: str) -> str:
    return registry.models.find(WS, name)["model_id"]


@pytest.fixture
def registry(monkeypatch, store_uri):
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_TAG_VALUE)
    store = DynamoDBRegistryStore(store_uri)
    backfill_fts(store.gateway.unscoped, settle_seconds=0)
    assert READINESS.is_ready(store.gateway.unscoped, MODEL_TAG_VALUE)
    return store


def _names(registry, flt: str) -> list[str]:
    return [m.name for m in registry.search_registered_models(filter_string=flt)]


def test_postings_follow_create_set_delete_and_model_deletion(registry):
    gateway = registry.gateway.unscoped
    registry.create_registered_model("a", tags=[RegisteredModelTag("note", "Résumé 数据 🚀")])
    registry.create_registered_model("b")
    a, b = _id(registry, "a"), _id(registry, "b")
    registry.set_registered_model_tag("b", RegisteredModelTag("note", LONG))
    registry.set_registered_model_tag("b", RegisteredModelTag("owner", "team-x"))
    want = [(a, "note", "Résumé 数据 🚀"), (b, "note", LONG), (b, "owner", "team-x")]
    stored = _postings(gateway)
    assert stored == _expected(*want)
    assert (fts_keys.overflow_pk(WS, MODEL_TAG_VALUE, "*#note"), b) in stored

    registry.set_registered_model_tag("a", RegisteredModelTag("note", "résumé v2"))
    registry.set_registered_model_tag("b", RegisteredModelTag("note", "short now"))
    registry.delete_registered_model_tag("b", "owner")
    registry.delete_registered_model_tag("b", "never-set")  # a no-op, as in the SQL store
    want = [(a, "note", "résumé v2"), (b, "note", "short now")]
    assert _postings(gateway) == _expected(*want)
    registry.delete_registered_model("b")
    assert _postings(gateway) == _expected(want[0])


def test_indexed_search_reads_only_candidates(registry):
    for i in range(40):
        note = f"note-{i:03d}-{'kvq' if i % 20 == 3 else 'abc'}"
        registry.create_registered_model(f"m-{i:03d}", tags=[RegisteredModelTag("note", note)])
    registry.search_registered_models(filter_string="tags.note LIKE '%warm%'")  # readiness
    registry.gateway.stats.reset()
    assert _names(registry, "tags.note ILIKE '%KVQ%'") == ["m-003", "m-023"]
    # one posting list (a Query per shard), the key's overflow list, the 2 candidates
    assert _reads(registry) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 1}

    registry.gateway.stats.reset()
    assert len(_names(registry, "tags.note LIKE '%kv%'")) == 2  # cannot narrow: the walk
    assert _reads(registry).get("Query") != FTS_SHARDS + 1


def test_write_overhead_per_set_tag_and_backfill_of_older_models(monkeypatch, store_uri):
    """Off: the model's read + 1 UpdateItem. On: the same read + 1 TransactWriteItems of
    META and the postings (the read's META gives the old value). Models tagged before the
    switch are found once `fts backfill` has built them."""
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    registry = DynamoDBRegistryStore(store_uri)
    registry.create_registered_model("old", tags=[RegisteredModelTag("team", "vision-zqx")])
    value = "abcdefghijklmnopqrst"  # 20 characters: 18 distinct trigrams
    registry.gateway.stats.reset()
    registry.set_registered_model_tag("old", RegisteredModelTag("k1", value))
    off = _reads(registry)
    assert off.get("UpdateItem") == 1 and "TransactWriteItems" not in off

    run_cli("fts", "add", store_uri, MODEL_TAG_VALUE)
    refresh_settings_now(registry)
    registry.gateway.stats.reset()
    registry.set_registered_model_tag("old", RegisteredModelTag("k2", value))
    on = _reads(registry)
    assert on == {**{k: v for k, v in off.items() if k != "UpdateItem"}, "TransactWriteItems": 1}
    old = _id(registry, "old")
    assert _postings(registry.gateway.unscoped) == _expected((old, "k2", value))
    assert len(_expected((old, "k2", value))) == 18

    READINESS.forget()
    registry.gateway.stats.reset()
    assert _names(registry, "tags.team LIKE '%zqx'") == ["old"]  # unready: the walk
    assert _reads(registry).get("Query") != FTS_SHARDS + 1
    report = json.loads(
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert report["entities"][MODEL_TAG_VALUE] == 1
    assert _postings(registry.gateway.unscoped) == _expected(
        (old, "team", "vision-zqx"), (old, "k1", value), (old, "k2", value)
    )
    READINESS.forget()
    assert _names(registry, "tags.team LIKE '%zqx'") == ["old"]
    registry.gateway.stats.reset()
    assert _names(registry, "tags.team LIKE '%zqx'") == ["old"]
    assert _reads(registry).get("Query") == FTS_SHARDS + 1  # through the index


def test_concurrent_sets_leave_exactly_the_last_values_postings(registry, store_uri):
    registry.create_registered_model("m", tags=[RegisteredModelTag("k", "start")])
    other = DynamoDBRegistryStore(store_uri)

    def write(store, prefix: str) -> None:
        for i in range(8):
            store.set_registered_model_tag("m", RegisteredModelTag("k", f"{prefix} {i} v-{prefix}"))

    threads = [threading.Thread(target=write, args=r) for r in ((registry, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = registry.get_registered_model("m").tags["k"]
    assert _postings(registry.gateway.unscoped) == _expected((_id(registry, "m"), "k", final))


def test_workspace_moves_and_cascade_carry_the_postings(monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_TAG_VALUE)
    provider = DynamoDBWorkspaceProvider(store_uri)
    registry = DynamoDBRegistryStore(store_uri)
    gateway = registry.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)
    for ws in ("team-a", "team-b"):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            registry.create_registered_model(f"{ws} model")
            registry.set_registered_model_tag(f"{ws} model", RegisteredModelTag("n", f"{ws}-zqx"))
    assert {pk.split("#")[1] for pk, _ in _postings(gateway)} == {"team-a", "team-b"}

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    assert {pk.split("#")[1] for pk, _ in _postings(gateway)} == {"default"}
    with WorkspaceContext("default"):
        registry.gateway.stats.reset()
        assert _names(registry, "tags.n LIKE '%zqx%'") == ["team-a model"]
        assert _reads(registry).get("Query") == FTS_SHARDS + 1  # through the index
