"""Experiment tag values in the trigram index (``experiment_tag_value``, opt-in): postings
follow create, set (overwrite), delete, purge, workspace moves and cascades exactly; a field
switched on (env or CLI) is unready until ``fts backfill``; an indexed search reads only the
posting lists and the candidates; the write overhead per set_experiment_tag."""

from __future__ import annotations

import json
import threading

import pytest
from mlflow.entities import ExperimentTag, ViewType
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.config.items import ConfigItems
from mlflow_dynamodbstore.config.settings import FTS_TRIGRAM_FIELDS_ENV, StoreSettings
from mlflow_dynamodbstore.config.source import REFRESH_SECONDS_ENV
from mlflow_dynamodbstore.fts.field_postings import EXPERIMENT_TAG_VALUE, VALUE_CAP
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.repositories.experiment_tag_values import tag_posting_keys
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.schema.fts_keys import FTS_SHARDS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
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
    return stored_postings(gateway, EXPERIMENT_TAG_VALUE)


def _expected(*tags: tuple[str, str, str], workspace: str = WS) -> set[tuple[str, str]]:
    """Postings of (experiment id, key, value)."""
    return expected_postings(tag_posting_keys, tags, workspace)


_ops, _reads = request_counts, requests_but_getitem


@pytest.fixture
def tagged(monkeypatch, store_uri):
    """A store with experiment tag values switched on by the env and built (new table)."""
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, EXPERIMENT_TAG_VALUE)
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    backfill_fts(store.gateway.unscoped, settle_seconds=0)
    assert READINESS.is_ready(store.gateway.unscoped, EXPERIMENT_TAG_VALUE)
    return store


def _names(store, flt: str, view=ViewType.ALL) -> list[str]:
    return [e.name for e in store.search_experiments(view, filter_string=flt)]


def test_postings_follow_create_set_delete_and_purge(tagged):
    store, gateway = tagged, tagged.gateway.unscoped
    a = store.create_experiment("a", tags=[ExperimentTag("note", "Résumé 数据 🚀")])
    b = store.create_experiment("b")
    store.set_experiment_tag(b, ExperimentTag("note", LONG))
    store.set_experiment_tag(b, ExperimentTag("mlflow.note.content", "a description"))
    want = [(a, "note", "Résumé 数据 🚀"), (b, "note", LONG)]
    want.append((b, "mlflow.note.content", "a description"))
    stored = _postings(gateway)
    assert stored == _expected(*want)
    overflow = [pk for pk, sk in stored if sk == b and pk.endswith("#OVERFLOW")]
    assert overflow == [fts_keys.overflow_pk(WS, EXPERIMENT_TAG_VALUE, "*#note")]

    store.set_experiment_tag(a, ExperimentTag("note", "résumé v2"))  # overwrite
    store.set_experiment_tag(b, ExperimentTag("note", "short now"))  # past the cap -> short
    store.delete_experiment_tag(b, "mlflow.note.content")
    want = [(a, "note", "résumé v2"), (b, "note", "short now")]
    assert _postings(gateway) == _expected(*want)
    with pytest.raises(MlflowException, match="No tag with name"):
        store.delete_experiment_tag(b, "mlflow.note.content")

    store.delete_experiment(b)  # soft delete keeps them; the lifecycle filter drops it
    assert _postings(gateway) == _expected(*want)
    with pytest.raises(MlflowException) as deleted:
        store.set_experiment_tag(b, ExperimentTag("note", "x"))
    assert deleted.value.error_code == "INVALID_PARAMETER_VALUE"  # as the SQL store
    store._hard_delete_experiment(b)  # mlflow gc
    assert _postings(gateway) == _expected(want[0])
    with pytest.raises(MlflowException) as missing:
        store.set_experiment_tag(b, ExperimentTag("note", "x"))
    assert missing.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_indexed_search_reads_only_candidates(tagged):
    store = tagged
    for i in range(60):
        note = f"note-{i:03d}-{'kvq' if i % 30 == 3 else 'abc'}"
        store.create_experiment(f"exp-{i:03d}", tags=[ExperimentTag("note", note)])
    store.search_experiments(filter_string="tags.note LIKE '%warm%'")  # readiness cached
    store.gateway.stats.reset()
    found = store.search_experiments(filter_string="tags.note ILIKE '%KVQ%'")
    assert [e.name for e in found] == ["exp-033", "exp-003"]
    # one posting list (a Query per shard), the key's overflow list, the 2 candidates
    assert _reads(store) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 1}

    # a long value past the cap is found through the overflow list
    long_id = store.create_experiment("long", tags=[ExperimentTag("note", LONG)])
    store.gateway.stats.reset()
    assert _names(store, "tags.note LIKE '%-tail'") == ["long"]
    assert _reads(store) == {"Query": FTS_SHARDS + 1, "BatchGetItem": 1}
    assert long_id

    # a pattern that cannot narrow walks the listing as before
    store.gateway.stats.reset()
    assert len(_names(store, "tags.note LIKE '%kv%'")) == 2
    assert _ops(store)["Query"] != FTS_SHARDS + 1


def test_write_overhead_per_set_experiment_tag(monkeypatch, store_uri):
    """Off: one UpdateItem. On: one GetItem (the old value) and one TransactWriteItems of
    META and the postings (2 write units each on AWS)."""
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    exp = store.create_experiment("e")
    value = "abcdefghijklmnopqrst"  # 20 characters: 18 distinct trigrams
    store.gateway.stats.reset()
    store.set_experiment_tag(exp, ExperimentTag("k1", value))
    assert _reads(store) == {"UpdateItem": 1}  # (a GetItem: the 0.1 s settings refresh)

    run_cli("fts", "add", store_uri, EXPERIMENT_TAG_VALUE)
    refresh_settings_now(store)
    store._conn.settings.current()
    store.gateway.stats.reset()
    store.set_experiment_tag(exp, ExperimentTag("k2", value))
    # META read for the old value (and maybe the settings refresh), one transaction
    assert _reads(store) == {"TransactWriteItems": 1} and _ops(store)["GetItem"] in (1, 2)
    assert _postings(store.gateway.unscoped) == _expected((exp, "k2", value))
    assert len(_expected((exp, "k2", value))) == 18
    store.gateway.stats.reset()
    store.delete_experiment_tag(exp, "k2")
    assert _reads(store) == {"TransactWriteItems": 1} and _ops(store)["GetItem"] in (1, 2)
    assert _postings(store.gateway.unscoped) == set()


def test_switched_on_by_env_is_unready_until_the_backfill(monkeypatch, store_uri):
    """One readiness mechanism: a server starting with the field in its env marks it
    unready (with the time); searches take the listing until `fts backfill`, which builds
    the postings of experiments tagged before."""
    first = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    old = first.create_experiment("old", tags=[ExperimentTag("team", "vision-zqx")])
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, EXPERIMENT_TAG_VALUE)
    monkeypatch.setenv(REFRESH_SECONDS_ENV, "0.1")
    from mlflow_dynamodbstore.stores import connection

    monkeypatch.setattr(connection, "_connections", {})  # a second server, its own env
    second = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    gateway = second.gateway.unscoped
    marker = gateway.get_item(fts_keys.ready_key(EXPERIMENT_TAG_VALUE))
    assert marker["complete"] is False and marker["changed_at"] > 0
    new = second.create_experiment("new", tags=[ExperimentTag("team", "audio-zqx")])
    assert _postings(gateway) == _expected((new, "team", "audio-zqx"))

    READINESS.forget()
    second.gateway.stats.reset()
    assert _names(second, "tags.team LIKE '%zqx'") == ["new", "old"]
    assert "BatchGetItem" not in _ops(second)  # unready: the listing walk

    listed = {r["field"]: r for r in json.loads(run_cli("fts", "list", store_uri, "--json").stdout)}
    assert listed[EXPERIMENT_TAG_VALUE] == {
        "field": EXPERIMENT_TAG_VALUE, "always_on": False, "maintained": True, "ready": False,
    }  # fmt: skip
    report = json.loads(
        run_cli("fts", "backfill", store_uri, "--settle-seconds", "0", "--json").stdout
    )
    assert report["entities"][EXPERIMENT_TAG_VALUE] == 3  # Default, old, new
    assert _postings(gateway) == _expected((new, "team", "audio-zqx"), (old, "team", "vision-zqx"))
    READINESS.forget()
    second.gateway.stats.reset()
    assert _names(second, "tags.team LIKE '%zqx'") == ["new", "old"]
    assert _ops(second).get("BatchGetItem") == 1  # through the index


def test_a_field_switched_again_during_the_backfill_stays_unready(tagged):
    """The backfill marks a field ready only if its marker was not switched meanwhile."""
    gateway = tagged.gateway.unscoped
    tagged.create_experiment("e", tags=[ExperimentTag("k", "value")])
    items = ConfigItems(gateway)
    items.update(
        lambda s: StoreSettings(**{**s.__dict__, "fts_trigram_fields": ("experiment_name",)}),
        initial=StoreSettings(),
    )
    items.update(
        lambda s: StoreSettings(
            **{**s.__dict__, "fts_trigram_fields": (*s.fts_trigram_fields, EXPERIMENT_TAG_VALUE)}
        ),
        initial=StoreSettings(),
    )
    switched = []

    def switch_once(_n: int) -> None:
        if not switched:  # off and on again while the walk runs
            switched.append(True)
            marker = gateway.get_item(fts_keys.ready_key(EXPERIMENT_TAG_VALUE))
            gateway.put_item({**marker, "changed_at": int(marker["changed_at"]) + 1})

    report = backfill_fts(gateway, switch_once, settle_seconds=0)
    assert report.not_ready == [EXPERIMENT_TAG_VALUE]
    READINESS.forget()
    assert not READINESS.is_ready(gateway, EXPERIMENT_TAG_VALUE)
    assert backfill_fts(gateway, settle_seconds=0).not_ready == []
    assert READINESS.is_ready(gateway, EXPERIMENT_TAG_VALUE)


def test_concurrent_sets_leave_exactly_the_last_values_postings(tagged, store_uri):
    """Two servers setting the same tag: the value read is in the transaction's condition,
    so the postings always match the value that won."""
    exp = tagged.create_experiment("e", tags=[ExperimentTag("k", "start")])
    other = DynamoDBTrackingStore(store_uri, "s3://b/a")

    def write(store, prefix: str) -> None:
        for i in range(8):
            store.set_experiment_tag(exp, ExperimentTag("k", f"{prefix} {i} v-{prefix * 3}"))

    threads = [threading.Thread(target=write, args=r) for r in ((tagged, "a"), (other, "b"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = tagged.get_experiment(exp).tags["k"]
    assert _postings(tagged.gateway.unscoped) == _expected((exp, "k", final))


def test_workspace_moves_and_cascade_carry_the_postings(monkeypatch, store_uri):
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv(FTS_TRIGRAM_FIELDS_ENV, EXPERIMENT_TAG_VALUE)
    provider = DynamoDBWorkspaceProvider(store_uri)
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    gateway = tracking.gateway.unscoped
    backfill_fts(gateway, settle_seconds=0)
    for ws in ("team-a", "team-b"):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            exp = tracking.create_experiment(f"{ws} experiment")
            tracking.set_experiment_tag(exp, ExperimentTag("note", f"{ws}-zqx"))
            tracking.set_experiment_tag(exp, ExperimentTag("long", LONG))
    assert {pk.split("#")[1] for pk, _ in _postings(gateway)} == {"team-a", "team-b"}

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    assert {pk.split("#")[1] for pk, _ in _postings(gateway)} == {"default"}
    with WorkspaceContext("default"):
        tracking.gateway.stats.reset()
        assert _names(tracking, "tags.note LIKE '%zqx%'") == ["team-a experiment"]
        assert _names(tracking, "tags.long LIKE '%-tail'") == ["team-a experiment"]
        assert "BatchGetItem" in _ops(tracking)  # through the index
