"""Workspace isolation by construction: the stores read and write through a gateway scoped
to the request's workspace, so an id of another workspace behaves as a nonexistent one on
every path, and a repository cannot be built on the unscoped gateway by accident."""

from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Attr, Key
from mlflow.entities import (
    AssessmentSource,
    Dataset,
    DatasetInput,
    Feedback,
    InputTag,
    Metric,
    Param,
    RunTag,
    ViewType,
)
from mlflow.entities.model_registry import RegisteredModelTag
from mlflow.entities.webhook import WebhookEvent
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import ServerWorkspaceContext, WorkspaceContext

from mlflow_dynamodbstore.gateway import ConditionFailed, TableGateway, TransactionCancelled
from mlflow_dynamodbstore.gateway.scoped import ScopedGateway, ScopeViolation
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential_traces.builders import info, span, tid


# ---- the scoped gateway itself -------------------------------------------------------
@pytest.fixture
def gateways(store_uri, ddb_client, table_name):
    DynamoDBTrackingStore(store_uri, "s3://b/a")  # provisions the table
    raw = TableGateway(ddb_client, table_name)
    scope = {"now": "b"}
    return raw, ScopedGateway(raw, "workspace", lambda: scope["now"]), scope


def _item(pk: str, sk: str = "META", **attrs) -> dict:
    return {"PK": pk, "SK": sk, **attrs}


def test_reads_hide_other_scopes_items(gateways):
    raw, scoped, _ = gateways
    raw.put_item(_item("X#1", workspace="a", v=1))
    raw.put_item(_item("X#1", "CHILD", v=2))  # no owner: its key derives from a checked parent
    raw.put_item(_item("X#2", workspace="b", v=3))
    assert scoped.get_item({"PK": "X#1", "SK": "META"}) is None
    assert scoped.get_item({"PK": "X#2", "SK": "META"})["v"] == 3
    assert [i["SK"] for i in scoped.query(Key("PK").eq("X#1"))] == ["CHILD"]
    items, _ = scoped.query_page(Key("PK").eq("X#1"))
    assert [i["SK"] for i in items] == ["CHILD"]
    found = scoped.batch_get([{"PK": "X#1", "SK": "META"}, {"PK": "X#2", "SK": "META"}])
    assert [i["PK"] for i in found] == ["X#2"]


def test_writes_cannot_touch_other_scopes_items(gateways):
    raw, scoped, _ = gateways
    raw.put_item(_item("X#1", workspace="a", v=1))
    key = {"PK": "X#1", "SK": "META"}
    with pytest.raises(ConditionFailed) as failed:
        scoped.update_item(key, "SET #u_v = :u_v", names={"#u_v": "v"}, values={":u_v": 9})
    assert failed.value.item is None  # the other workspace's item is not handed back
    with pytest.raises(ConditionFailed):
        scoped.put_item(_item("X#1", v=9))  # replacing it without an owner is refused too
    with pytest.raises(ConditionFailed):
        scoped.delete_item(key)
    with pytest.raises(TransactionCancelled):
        scoped.transact_write(
            [
                scoped.tx_update(
                    key,
                    "SET #u_v = :u_v",
                    names={"#u_v": "v"},
                    values={":u_v": 9},
                    condition_expression="#u_v = :u_v OR attribute_exists(#u_v)",
                )
            ]
        )
    with pytest.raises(TransactionCancelled):
        scoped.transact_write([scoped.tx_check(key, Attr("PK").exists())])
    with pytest.raises(ScopeViolation):
        scoped.put_item(_item("X#3", workspace="a"))
    with pytest.raises(ScopeViolation):
        scoped.batch_write(puts=[_item("X#3", workspace="a")])
    assert raw.get_item(key)["v"] == 1


def test_writes_in_own_scope_and_to_unowned_items_work(gateways):
    raw, scoped, scope = gateways
    key = {"PK": "X#1", "SK": "META"}
    scoped.put_item(_item("X#1", workspace="b", v=1), condition=Attr("PK").not_exists())
    scoped.update_item(key, "SET #u_v = :u_v", names={"#u_v": "v"}, values={":u_v": 2})
    scoped.transact_write(
        [scoped.tx_update(key, "SET #u_v = :u_v", names={"#u_v": "v"}, values={":u_v": 3})]
    )
    scoped.put_item(_item("COUNTER", v=1))
    assert raw.get_item(key)["v"] == 3
    scope["now"] = "a"  # the scope is read at each call (one gateway serves every request)
    assert scoped.get_item(key) is None
    assert scoped.get_item({"PK": "COUNTER", "SK": "META"})["v"] == 1


# ---- the stores are built on it ------------------------------------------------------
def _repositories(store) -> list:
    """Every attribute of a store (cached properties too) that holds a gateway."""
    found = []
    for name in dir(store):
        if name.startswith("__") or name == "_conn":  # the connection: seeding, workspaces
            continue
        if name == "_archival_workspace_provider":  # MLflow's workspace store: workspaces
            continue
        try:
            value = getattr(store, name)
        except Exception:  # properties that need a request context
            continue
        if hasattr(value, "gateway") and not isinstance(value, type):
            found.append((name, value))
    return found


def test_every_repository_of_the_stores_is_workspace_scoped(store_uri):
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    registry = DynamoDBRegistryStore(store_uri)
    for store in (tracking, registry):
        assert isinstance(store.gateway, ScopedGateway)
        repositories = _repositories(store)
        assert len(repositories) >= 3
        for name, repository in repositories:
            assert isinstance(repository.gateway, ScopedGateway), name


# ---- ids of another workspace are nonexistent, for reads and writes ------------------
@pytest.fixture
def two_workspaces(monkeypatch, store_uri):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")  # no DNS in tests
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))
    tracking = DynamoDBTrackingStore(store_uri, "s3://b/a")
    registry = DynamoDBRegistryStore(store_uri)
    with WorkspaceContext("team-a"):
        exp = tracking.create_experiment("shared-name")
        run = tracking.create_run(exp, "u", 1, [], "r").info.run_id
        tracking.log_batch(run, [Metric("m", 1.0, 1, 0)], [Param("p", "1")], [RunTag("t", "1")])
        tracking.start_trace(info("tr-a", exp))
        tracking.log_spans(exp, [span(1, 1, None, "root", 0, 10)])
        model = tracking.create_logged_model(exp).model_id
        registry.create_registered_model("shared-model")
        registry.create_model_version("shared-model", "s3://b/m", run_id=run)
        registry.set_registered_model_alias("shared-model", "champion", "1")
        hook = registry.create_webhook(
            "h", "https://localhost/h", [WebhookEvent.from_str("registered_model.created")]
        ).webhook_id
    with WorkspaceContext("team-b"):
        exp_b = tracking.create_experiment("shared-name")
        tracking.start_trace(info("tr-b", exp_b))
    return (
        tracking,
        registry,
        {
            "exp": exp,
            "run": run,
            "model": model,
            "hook": hook,
            "trace": tid(1),
            "trace_b": "tr-b",
        },
    )


def _missing(call) -> None:
    with pytest.raises(MlflowException) as err:
        call()
    assert err.value.error_code == "RESOURCE_DOES_NOT_EXIST", err.value.message


def test_tracking_ids_of_another_workspace_do_not_exist(two_workspaces):
    tracking, _, a = two_workspaces
    with WorkspaceContext("team-b"):
        _missing(lambda: tracking.get_experiment(a["exp"]))
        _missing(lambda: tracking.rename_experiment(a["exp"], "x"))
        _missing(lambda: tracking.delete_experiment(a["exp"]))
        _missing(lambda: tracking.set_experiment_tag(a["exp"], RunTag("k", "v")))
        _missing(lambda: tracking.create_run(a["exp"], "u", 1, [], "r"))
        _missing(lambda: tracking.get_run(a["run"]))
        _missing(lambda: tracking.log_metric(a["run"], Metric("m", 2.0, 2, 1)))
        _missing(lambda: tracking.log_param(a["run"], Param("q", "1")))
        _missing(lambda: tracking.set_tag(a["run"], RunTag("k", "v")))
        _missing(lambda: tracking.delete_run(a["run"]))
        _missing(lambda: tracking.get_metric_history(a["run"], "m"))
        _missing(lambda: tracking.get_trace_info(a["trace"]))
        _missing(lambda: tracking.set_trace_tag(a["trace"], "k", "v"))
        _missing(lambda: tracking.log_spans(a["exp"], [span(1, 2, 1, "child", 1, 5)]))
        _missing(lambda: tracking.get_logged_model(a["model"]))
        _missing(lambda: tracking.set_logged_model_tags(a["model"], []))
        # B's trace linked to A's run: the run does not exist here (SQL workspace store: 404).
        _missing(lambda: tracking.link_traces_to_run([a["trace_b"]], a["run"]))
        assert tracking.search_runs([a["exp"]], "", ViewType.ALL) == []
        assert (
            tracking.search_experiments(filter_string="name = 'shared-name'")[0].experiment_id
            != a["exp"]
        )
        assert tracking.batch_get_traces([a["trace"]]) == []
    with WorkspaceContext("team-a"):
        run = tracking.get_run(a["run"])
        assert run.data.metrics == {"m": 1.0} and run.data.tags.get("k") is None
        assert "k" not in tracking.get_trace_info(a["trace"]).tags
        assert len(tracking.get_trace(a["trace"]).data.spans) == 1


def test_registry_ids_of_another_workspace_do_not_exist(two_workspaces):
    _, registry, a = two_workspaces
    with WorkspaceContext("team-b"):
        _missing(lambda: registry.get_registered_model("shared-model"))
        _missing(lambda: registry.get_model_version("shared-model", "1"))
        _missing(lambda: registry.get_model_version_by_alias("shared-model", "champion"))
        _missing(
            lambda: registry.set_registered_model_tag("shared-model", RegisteredModelTag("k", "v"))
        )
        _missing(lambda: registry.delete_registered_model("shared-model"))
        _missing(lambda: registry.get_webhook(a["hook"]))
        _missing(lambda: registry.delete_webhook(a["hook"]))
        assert registry.search_model_versions(f"run_id = '{a['run']}'") == []
        registry.create_registered_model("shared-model")  # the name is free in this workspace
    with WorkspaceContext("team-a"):
        assert registry.get_registered_model("shared-model").aliases == {"champion": 1}
        assert registry.get_webhook(a["hook"]).name == "h"


def test_search_runs_reads_run_partitions_in_the_requests_workspace(two_workspaces):
    """A page of runs with inputs reads their partitions in worker threads; those must see
    the request's workspace, which the server keeps in a ContextVar only (no env)."""
    tracking, _, a = two_workspaces
    dataset = DatasetInput(Dataset("d", "x", "local", "{}"), [InputTag("mlflow.data.context", "t")])
    with WorkspaceContext("team-a"):
        second = tracking.create_run(a["exp"], "u", 2, [], "r2").info.run_id
        for run in (a["run"], second):
            tracking.log_inputs(run, [dataset])
    with ServerWorkspaceContext("team-a"):
        found = tracking.search_runs([a["exp"]], "", ViewType.ALL)
    assert {r.info.run_id for r in found} == {a["run"], second}
    assert all(r.inputs.dataset_inputs for r in found)


def test_deleting_an_assessment_of_another_workspaces_trace(two_workspaces):
    """As the SQL workspace store: the trace is not found (no silent success); an unknown
    assessment of a trace of one's own workspace is still deleted silently."""
    tracking, _, a = two_workspaces
    feedback = Feedback(name="quality", value=True, source=AssessmentSource("HUMAN", "u"))
    feedback.trace_id = a["trace"]
    with WorkspaceContext("team-a"):
        kept = tracking.create_assessment(feedback).assessment_id
    with WorkspaceContext("team-b"):
        _missing(lambda: tracking.delete_assessment(a["trace"], kept))
        tracking.delete_assessment(a["trace_b"], "a-unknown")
    with WorkspaceContext("team-a"):
        assert tracking.get_assessment(a["trace"], kept).value is True


def test_bulk_metric_history_leaves_out_runs_of_another_workspace(two_workspaces):
    """As the SQL workspace store, which filters the run ids: no error, no points of them."""
    tracking, _, a = two_workspaces
    with WorkspaceContext("team-b"):
        exp_b = tracking.get_experiment_by_name("shared-name").experiment_id
        own = tracking.create_run(exp_b, "u", 1, [], "b").info.run_id
        tracking.log_metric(own, Metric("m", 5.0, 1, 0))
        points = tracking.get_metric_history_bulk([a["run"], own], "m", 100)
    assert [(p.run_id, p.value) for p in points] == [(own, 5.0)]
