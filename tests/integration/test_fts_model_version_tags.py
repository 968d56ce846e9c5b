"""Model version tag values in the trigram index (``model_version_tag_value``, opt-in):
postings follow version create, set (overwrite), tag delete, version and model deletion, a
model rename (nothing to move), workspace moves and cascades exactly; an indexed search
reads only the posting lists and the candidates; the write overhead per
set_model_version_tag; switched on by the environment the field stays unready (searches
walk) until the backfill has built the postings of the versions written before."""

from __future__ import annotations

import json
import threading

import pytest
from mlflow.entities.model_registry import ModelVersionTag
from mlflow.entities.model_registry.prompt_version import IS_PROMPT_TAG_KEY

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV
from mlflow_dynamodbstore.config.source import REFRESH_SECONDS_ENV
from mlflow_dynamodbstore.fts.field_postings import MODEL_VERSION_TAG_VALUE, VALUE_CAP
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.repositories.registry.model_version_tag_values import tag_posting_keys
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.schema.model_version_tag_keys import version_entity_id
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.fts.helpers import refresh_settings_now, run_cli
from tests.fts.tag_value_postings import request_counts, requests_but_getitem, stored_postings

WS = "default"
LONG = "".join(chr(0x4E00 + i) for i in range(VALUE_CAP + 50)) + "-tail"
_ops, _reads = request_counts, requests_but_getitem


def _postings(gateway) -> set[tuple[str, str]]:
    return stored_postings(gateway, MODEL_VERSION_TAG_VALUE)


def _expected(*tags: tuple[str, int, str, str], workspace: str = WS) -> set[tuple[str, str]]:
    """Postings of (model id, version, key, value)."""
    return {
        (k["PK"], k["SK"])
        for model_id, version, key, value in tags
        for k in tag_posting_keys(workspace, model_id, version, {key: value})
    }


def _id(registry, name: str) -> str:
    return registry.models.find(WS, name)["model_id"]


def _found(registry, flt: str, **kwargs) -> list[tuple[str, str]]:
    return [
        (mv.name, str(mv.version))
        for mv in registry.search_model_versions(filter_string=flt, **kwargs)
    ]


@pytest.fixture
def registry(monkeypatch, store_uri):
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_VERSION_TAG_VALUE)
    store = DynamoDBRegistryStore(store_uri)
    backfill_fts(store.gateway.unscoped, settle_seconds=0)
    assert READINESS.is_ready(store.gateway.unscoped, MODEL_VERSION_TAG_VALUE)
    return store


def test_postings_follow_every_version_write(registry):
    gateway = registry.gateway.unscoped
    registry.create_registered_model("a")
    registry.create_registered_model("b")
    a, b = _id(registry, "a"), _id(registry, "b")
    registry.create_model_version("a", "s3://x", tags=[ModelVersionTag("note", "Résumé 数据 🚀")])
    registry.create_model_version("a", "s3://x")
    registry.create_model_version("b", "s3://x", tags=[ModelVersionTag("note", LONG)])
    registry.set_model_version_tag("a", "2", ModelVersionTag("owner", "team-x"))
    want = [(a, 1, "note", "Résumé 数据 🚀"), (a, 2, "owner", "team-x"), (b, 1, "note", LONG)]
    stored = _postings(gateway)
    assert stored == _expected(*want)
    overflow = fts_keys.overflow_pk(WS, MODEL_VERSION_TAG_VALUE, "*#note")
    assert (overflow, version_entity_id(b, 1)) in stored

    registry.set_model_version_tag("a", "1", ModelVersionTag("note", "résumé v2"))  # overwrite
    registry.set_model_version_tag("b", "1", ModelVersionTag("note", "short now"))
    registry.delete_model_version_tag("a", "2", "owner")
    registry.delete_model_version_tag("a", "2", "never-set")  # a no-op, as in the SQL store
    want = [(a, 1, "note", "résumé v2"), (b, 1, "note", "short now")]
    assert _postings(gateway) == _expected(*want)

    # the prompt tag also marks META (prompt_versions), in the same transaction
    registry.set_model_version_tag("a", "2", ModelVersionTag(IS_PROMPT_TAG_KEY, "true"))
    assert registry.models.get(a)["prompt_versions"] == {2}
    registry.delete_model_version_tag("a", "2", IS_PROMPT_TAG_KEY)
    assert not registry.models.get(a).get("prompt_versions")
    assert _postings(gateway) == _expected(*want)

    registry.rename_registered_model("a", "a2")  # keyed by model id: nothing moves
    assert _postings(gateway) == _expected(*want)
    assert _found(registry, "tags.note LIKE '%sumé v%'") == [("a2", "1")]

    registry.delete_model_version("b", "1")
    assert _postings(gateway) == _expected(want[0])
    registry.create_model_version("b", "s3://x", tags=[ModelVersionTag("k", "fresh-value")])
    registry.delete_registered_model("a2")
    assert _postings(gateway) == _expected((b, 2, "k", "fresh-value"))
    registry.delete_registered_model("b")
    assert _postings(gateway) == set()


def test_indexed_search_reads_only_candidates(registry):
    for m in range(3):
        registry.create_registered_model(f"m{m}")
        for i in range(15):
            note = f"note-{m}-{i:02d}-{'kvq' if (m, i) in ((0, 3), (2, 11)) else 'abc'}"
            registry.create_model_version(f"m{m}", "s3://x", tags=[ModelVersionTag("note", note)])
    _found(registry, "tags.note LIKE '%warm%'")  # settings and readiness read once
    registry.gateway.stats.reset()
    assert _found(registry, "tags.note ILIKE '%KVQ%'") == [("m2", "12"), ("m0", "4")]
    # one posting list (a Query per shard), the key's overflow list, the 2 candidate
    # versions (1 BatchGetItem) and their models' META (1 BatchGetItem)
    assert _reads(registry) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 2}

    registry.gateway.stats.reset()
    assert _found(registry, "tags.note = 'note-1-07-abc'") == [("m1", "8")]
    # the first list left fewer than 5 candidates: no second one read
    assert _reads(registry) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 2}

    # paging keeps working on the candidates (keyset tokens)
    page = registry.search_model_versions("tags.note LIKE '%kvq'", max_results=1)
    assert [(mv.name, str(mv.version)) for mv in page] == [("m2", "12")]
    rest = registry.search_model_versions(
        "tags.note LIKE '%kvq'", max_results=1, page_token=page.token
    )
    assert [(mv.name, str(mv.version)) for mv in rest] == [("m0", "4")] and rest.token is None

    registry.gateway.stats.reset()
    assert len(_found(registry, "tags.note LIKE '%kv%'")) == 2  # cannot narrow: the walk
    assert _reads(registry).get("Query") != FTS_SHARDS + 1


def test_write_overhead_per_set_tag_and_backfill_of_older_versions(monkeypatch, store_uri):
    """Off: the version's reads + 1 UpdateItem. On: the same reads + 1 TransactWriteItems of
    the version and the postings (the version read gives the old value). Versions tagged
    before the switch are found once `fts backfill` has built them."""
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    registry = DynamoDBRegistryStore(store_uri)
    registry.create_registered_model("old")
    registry.create_model_version("old", "s3://x", tags=[ModelVersionTag("team", "vision-zqx")])
    value = "abcdefghijklmnopqrst"  # 20 characters: 18 distinct trigrams
    registry.gateway.stats.reset()
    registry.set_model_version_tag("old", "1", ModelVersionTag("k1", value))
    off = _reads(registry)
    assert off.get("UpdateItem") == 1 and "TransactWriteItems" not in off

    run_cli("fts", "add", store_uri, MODEL_VERSION_TAG_VALUE)
    refresh_settings_now(registry)
    registry.gateway.stats.reset()
    registry.set_model_version_tag("old", "1", ModelVersionTag("k2", value))
    on = _reads(registry)
    assert on == {**{k: v for k, v in off.items() if k != "UpdateItem"}, "TransactWriteItems": 1}
    old = _id(registry, "old")
    assert _postings(registry.gateway.unscoped) == _expected((old, 1, "k2", value))
    assert len(_expected((old, 1, "k2", value))) == 18

    READINESS.forget()
    registry.gateway.stats.reset()
    assert _found(registry, "tags.team LIKE '%zqx'") == [("old", "1")]  # unready: the walk
    assert _reads(registry).get("Query") != FTS_SHARDS + 1
    report = json.loads(
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert report["entities"][MODEL_VERSION_TAG_VALUE] == 1
    assert _postings(registry.gateway.unscoped) == _expected(
        (old, 1, "team", "vision-zqx"), (old, 1, "k1", value), (old, 1, "k2", value)
    )
    again = json.loads(  # idempotent: the same postings
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert again["entities"][MODEL_VERSION_TAG_VALUE] == 1
    assert len(_postings(registry.gateway.unscoped)) == report["postings"] - _name_postings(report)
    READINESS.forget()
    assert _found(registry, "tags.team LIKE '%zqx'") == [("old", "1")]
    registry.gateway.stats.reset()
    assert _found(registry, "tags.team LIKE '%zqx'") == [("old", "1")]
    assert _reads(registry) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 2}  # the index


def _name_postings(report: dict) -> int:
    """The backfill's postings that are not version tag values: the model name ``old``."""
    return 1 if report["entities"]["model_name"] == 1 else 0


def test_switched_on_by_env_unready_until_backfill(monkeypatch, store_uri):
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_VERSION_TAG_VALUE)
    registry = DynamoDBRegistryStore(store_uri)
    registry.create_registered_model("m")
    registry.create_model_version("m", "s3://x", tags=[ModelVersionTag("t", "value-zqx")])
    READINESS.forget()
    assert not READINESS.is_ready(registry.gateway.unscoped, MODEL_VERSION_TAG_VALUE)
    registry.gateway.stats.reset()
    assert _found(registry, "tags.t LIKE '%zqx%'") == [("m", "1")]
    assert _reads(registry).get("Query") != FTS_SHARDS + 1  # the walk
    backfill_fts(registry.gateway.unscoped, settle_seconds=0)
    READINESS.forget()
    _found(registry, "tags.t LIKE '%zqx%'")
    registry.gateway.stats.reset()
    assert _found(registry, "tags.t LIKE '%zqx%'") == [("m", "1")]
    assert _reads(registry) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 2}


def test_concurrent_sets_leave_exactly_the_last_values_postings(registry, store_uri):
    registry.create_registered_model("m")
    registry.create_model_version("m", "s3://x", tags=[ModelVersionTag("k", "start")])
    other = DynamoDBRegistryStore(store_uri)

    def write(store, prefix: str) -> None:
        for i in range(8):
            store.set_model_version_tag("m", "1", ModelVersionTag("k", f"{prefix} {i} v-{prefix}"))

    threads = [threading.Thread(target=write, args=r) for r in ((registry, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = registry.get_model_version("m", "1").tags["k"]
    assert _postings(registry.gateway.unscoped) == _expected((_id(registry, "m"), 1, "k", final))


def test_workspace_moves_and_cascade_carry_the_postings(monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, MODEL_VERSION_TAG_VALUE)
    provider = DynamoDBWorkspaceProvider(store_uri)
    registry = DynamoDBRegistryStore(store_uri)
    gateway = registry.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)
    for ws in ("team-a", "team-b"):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            registry.create_registered_model(f"{ws} model")
            registry.create_model_version(
                f"{ws} model", "s3://x", tags=[ModelVersionTag("n", f"{ws}-zqx")]
            )
            registry.create_model_version(f"{ws} model", "s3://x")
            registry.set_model_version_tag(f"{ws} model", "2", ModelVersionTag("n", "two-zqx"))
    assert {pk.split("#")[1] for pk, _ in _postings(gateway)} == {"team-a", "team-b"}

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    with WorkspaceContext("default"):
        moved = registry.models.find(WS, "team-a model")["model_id"]
        assert _postings(gateway) == _expected(
            (moved, 1, "n", "team-a-zqx"), (moved, 2, "n", "two-zqx")
        )
        registry.gateway.stats.reset()
        assert _found(registry, "tags.n LIKE '%zqx%'") == [
            ("team-a model", "2"),
            ("team-a model", "1"),
        ]
        assert _reads(registry) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 2}  # the index


def test_backfill_interrupted_then_resumed_is_exact(monkeypatch, store_uri):
    from mlflow_dynamodbstore.backfills import fts as backfill_module

    monkeypatch.setattr(backfill_module, "PAGE", 3)
    registry = DynamoDBRegistryStore(store_uri)  # the field off: no postings written
    gateway = registry.gateway.unscoped
    registry.create_registered_model("a")
    registry.create_registered_model("b")
    want = []
    for i in range(10):
        name = "ab"[i % 2]
        registry.create_model_version(name, "s3://x", tags=[ModelVersionTag("t", f"v{i}-zqx")])
        want.append((_id(registry, name), i // 2 + 1, "t", f"v{i}-zqx"))
    registry.delete_model_version("a", "5")  # deleted versions get no postings
    want = [w for w in want if w[:2] != (_id(registry, "a"), 5)]
    assert _postings(gateway) == set()
    run_cli("fts", "add", store_uri, MODEL_VERSION_TAG_VALUE)

    full_pages = []

    def interrupt(n: int) -> None:
        full_pages.append(n == 3)  # version listing pages (2 models: a page of 2)
        if sum(full_pages) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_fts(gateway, interrupt, settle_seconds=0)
    assert gateway.get_item(fts_keys.backfill_record_key()) is not None
    READINESS.forget()
    assert not READINESS.is_ready(gateway, MODEL_VERSION_TAG_VALUE)
    partial = _postings(gateway)
    assert partial and partial < _expected(*want)

    report = json.loads(
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert report["resumed"] is True
    assert _postings(gateway) == _expected(*want)
    assert gateway.get_item(fts_keys.backfill_record_key()) is None
    READINESS.forget()
    assert READINESS.is_ready(gateway, MODEL_VERSION_TAG_VALUE)
    run_cli("fts", "backfill", store_uri, "--settle-seconds", "0")  # idempotent
    assert _postings(gateway) == _expected(*want)
