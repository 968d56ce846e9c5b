"""The trigram index's postings stay exact through creates, renames and deletes; the
backfill builds them for older data (interrupted half way, then resumed) and the ``fts``
CLI manages the fields."""

from __future__ import annotations

import json

import pytest
from mlflow.entities import RunStatus, RunTag, ViewType

from mlflow_dynamodbstore.backfills import fts as backfill_module
from mlflow_dynamodbstore.backfills.fts import backfill_fts
from mlflow_dynamodbstore.fts import postings
from mlflow_dynamodbstore.fts.lookup import READINESS
from mlflow_dynamodbstore.schema import fts_keys
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from tests.fts.helpers import run_cli

WS = "default"


def _stored(gateway) -> set[tuple[str, str]]:
    """Every posting in the table (a Scan: test code only)."""
    client, found, start = gateway.client, set(), None
    while True:
        kwargs = {"TableName": gateway.table_name}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = client.scan(**kwargs)
        for raw in page["Items"]:
            if raw["PK"]["S"].startswith("FTS#"):
                found.add((raw["PK"]["S"], raw["SK"]["S"]))
        start = page.get("LastEvaluatedKey")
        if not start:
            return found


def _expected(experiments=(), runs=(), models=()) -> set[tuple[str, str]]:
    """Postings of (id, name) experiments, (experiment id, run id, name) runs, (id, name)
    models."""
    keys = []
    scope = fts_keys.WORKSPACE_SCOPE
    for eid, name in experiments:
        keys += postings.Document(WS, postings.EXPERIMENT_NAME, scope, eid).keys(name)
    for exp, rid, name in runs:
        keys += postings.Document(WS, postings.RUN_NAME, exp, rid).keys(name)
    for mid, name in models:
        keys += postings.Document(WS, postings.MODEL_NAME, scope, mid).keys(name)
    return {(k["PK"], k["SK"]) for k in keys}


def test_postings_follow_creates_renames_and_deletes(store, store_uri):
    gateway = store.gateway.unscoped
    a = store.create_experiment("Alpha Résumé 数据")
    b = store.create_experiment("beta")
    store.rename_experiment(b, "gamma-BETA")
    run1 = store.create_run(a, "u", 1, [], "first run").info.run_id
    run2 = store.create_run(a, "u", 2, [], "second").info.run_id
    store.update_run_info(run1, RunStatus.FINISHED, 5, "renamed 🚀")
    store.set_tag(run2, RunTag("mlflow.runName", "via tag"))
    run3 = store.create_run(a, "u", 3, [], "gone soon").info.run_id
    store.delete_run(run3)
    store._hard_delete_run(run3)
    experiments = [("0", "Default"), (a, "Alpha Résumé 数据"), (b, "gamma-BETA")]
    runs = [(a, run1, "renamed 🚀"), (a, run2, "via tag")]
    assert _stored(gateway) == _expected(experiments, runs)

    store.delete_tag(run2, "mlflow.runName")
    assert _stored(gateway) == _expected(experiments, runs[:1])

    registry = DynamoDBRegistryStore(store_uri)
    m1 = registry.create_registered_model("model one")
    registry.create_registered_model("model two")
    registry.rename_registered_model("model two", "model 2")
    registry.delete_registered_model("model 2")
    models = [(registry.models.find(WS, m1.name)["model_id"], "model one")]
    assert _stored(gateway) == _expected(experiments, runs[:1], models)


def test_long_name_postings_overflow_the_transaction(store):
    """A name with more distinct trigrams than a transaction holds: the rest go in a batch."""
    name = "".join(chr(0x4E00 + i) for i in range(150))  # 148 distinct trigrams
    eid = store.create_experiment(name)
    assert _stored(store.gateway.unscoped) == _expected([("0", "Default"), (eid, name)])
    store.rename_experiment(eid, name[::-1])
    assert _stored(store.gateway.unscoped) == _expected([("0", "Default"), (eid, name[::-1])])
    found = store.search_experiments(filter_string=f"name LIKE '%{name[70:75][::-1]}%'")
    assert [e.experiment_id for e in found] == [eid]


def _forget_index(gateway) -> None:
    """Make the table look as if it predates the index: no postings, no ready markers."""
    for pk, sk in _stored(gateway):
        gateway.delete_item({"PK": pk, "SK": sk})
    for field in backfill_module.FIELDS:
        READINESS.mark(gateway, field, False)


def test_backfill_interrupted_then_resumed_is_exact(store, store_uri, monkeypatch):
    monkeypatch.setattr(backfill_module, "PAGE", 4)
    gateway = store.gateway.unscoped
    exps = [store.create_experiment(f"exp {i} zqx" if i % 5 == 0 else f"exp {i}") for i in range(9)]
    runs = [
        (exps[1], store.create_run(exps[1], "u", i, [], f"run-{i}").info.run_id, f"run-{i}")
        for i in range(11)
    ]
    registry = DynamoDBRegistryStore(store_uri)
    mids = [registry.create_registered_model(f"m{i}").name for i in range(6)]
    store.create_logged_model(exps[2], name="lm-zqx")
    store.delete_logged_model(store.create_logged_model(exps[2], name="lm-gone").model_id)
    expected = _stored(gateway)
    _forget_index(gateway)

    # not ready: searches read the collections and stay correct
    found = store.search_experiments(filter_string="name LIKE '%zqx%'")
    assert sorted(e.name for e in found) == ["exp 0 zqx", "exp 5 zqx"]

    calls = []

    def interrupt(n: int) -> None:
        calls.append(n)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backfill_fts(gateway, interrupt)
    assert gateway.get_item(fts_keys.backfill_record_key()) is not None
    assert not READINESS.is_ready(gateway, postings.EXPERIMENT_NAME)
    partial = _stored(gateway)
    assert partial and partial < expected

    dry = run_cli("fts", "backfill", store_uri, "--dry-run", "--json")
    counted = json.loads(dry.stdout)
    assert counted["entities"] == {
        "experiment_name": 10, "model_name": 6, "run_name": 11, "logged_model_name": 2,
        "trace_name": 0,
    }  # fmt: skip
    assert counted["postings"] == len(expected)
    assert _stored(gateway) == partial  # a dry run writes nothing

    result = run_cli("fts", "backfill", store_uri, "--json")
    assert json.loads(result.stdout)["resumed"] is True
    assert _stored(gateway) == expected
    assert gateway.get_item(fts_keys.backfill_record_key()) is None
    assert READINESS.is_ready(gateway, postings.RUN_NAME)

    # idempotent: a second run changes nothing
    run_cli("fts", "backfill", store_uri)
    assert _stored(gateway) == expected
    store.gateway.stats.reset()
    hits = store.search_runs([exps[1]], "attributes.run_name LIKE '%un-1%'", ViewType.ALL)
    assert sorted(r.info.run_name for r in hits) == ["run-1", "run-10"]
    # experiment, candidates, the matches' LIVE items (option D: every run has one)
    assert store.gateway.stats.requests("BatchGetItem") == 3
    found = store.search_logged_models([exps[2]], filter_string="name LIKE '%zqx'")
    assert [m.name for m in found] == ["lm-zqx"]
    assert len(mids) == 6 and len(runs) == 11


def test_fts_cli_list_add_remove(store_uri, store):
    listed = run_cli("fts", "list", store_uri, "--json")
    rows = {r["field"]: r for r in json.loads(listed.stdout)}
    assert rows["run_name"] == {
        "field": "run_name", "always_on": True, "maintained": True, "ready": True
    }  # fmt: skip

    dry = run_cli("fts", "add", store_uri, "experiment_description", "--dry-run")
    assert "experiment_description" in dry.stdout
    assert "experiment_description" not in run_cli("fts", "list", store_uri).stdout

    added = run_cli("fts", "add", store_uri, "experiment_description", "--json")
    row = {r["field"]: r for r in json.loads(added.stdout)}["experiment_description"]
    assert row == {
        "field": "experiment_description", "always_on": False, "maintained": False,
        "ready": False, "note": "not built by this version: nothing indexes it, no search uses it",
    }  # fmt: skip
    assert "warning: experiment_description is not built by this version" in added.stderr
    table = run_cli("fts", "list", store_uri).stdout
    assert "not built by this version: no effect" in table

    refused = run_cli("fts", "remove", store_uri, "run_name", ok=None)
    assert refused.exit_code == 2 and "cannot be removed" in refused.output
    bad = run_cli("fts", "add", store_uri, "Bad Field", ok=None)
    assert bad.exit_code == 2

    removed = run_cli("fts", "remove", store_uri, "experiment_description")
    assert "experiment_description" not in removed.stdout
    table = run_cli("fts", "list", store_uri).stdout
    assert table.splitlines()[0].split() == ["FIELD", "ALWAYS", "ON", "INDEXED", "READY"]
    for option in ("--json", "--dry-run"):
        assert option in run_cli("fts", "backfill", "--help").stdout


def test_workspace_moves_and_cascade_carry_the_postings(monkeypatch, store_uri):
    """SET_DEFAULT moves a workspace's postings to default's keys (indexed searches there
    find the moved entities); CASCADE deletes them."""
    from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
    from mlflow.utils.workspace_context import WorkspaceContext

    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
    from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    registry = DynamoDBRegistryStore(store_uri)
    for ws in ("team-a", "team-b"):
        provider.create_workspace(Workspace(ws))
        with WorkspaceContext(ws):
            exp = tracking.create_experiment(f"{ws} zqx experiment")
            tracking.create_run(exp, "u", 1, [], f"{ws} zqx run")
            tracking.create_logged_model(exp, name=f"{ws}-zqx-model")
            registry.create_registered_model(f"{ws} zqx model")
    gateway = tracking.gateway.unscoped

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    provider.delete_workspace("team-b", WorkspaceDeletionMode.CASCADE)
    left = {pk.split("#")[1] for pk, _ in _stored(gateway)}
    assert left == {"default"}
    with WorkspaceContext("default"):
        [exp] = tracking.search_experiments(filter_string="name LIKE '%zqx%'")
        runs = tracking.search_runs([exp.experiment_id], "run_name LIKE '%zqx%'", ViewType.ALL)
        models = registry.search_registered_models(filter_string="name LIKE '%zqx%'")
        logged = tracking.search_logged_models([exp.experiment_id], "name LIKE '%zqx%'")
    assert exp.name == "team-a zqx experiment"
    assert [r.info.run_name for r in runs] == ["team-a zqx run"]
    assert [m.name for m in models] == ["team-a zqx model"]
    assert [m.name for m in logged] == ["team-a-zqx-model"]
