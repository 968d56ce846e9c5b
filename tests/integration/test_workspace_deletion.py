"""Workspace deletion end to end: nothing of a deleted workspace stays in the table (checked
with a Scan, which only the test may use), a server killed half way through a CASCADE
delete leaves a state the next DELETE finishes, several servers see a workspace created or
deleted through one of them, and the admin command does the same job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from mlflow.entities import ExperimentTag, Metric, Param, RunTag, ViewType
from mlflow.entities.webhook import WebhookEvent
from mlflow.entities.workspace import Workspace, WorkspaceDeletionMode
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_STATE
from mlflow.tracing.constant import TraceMetadataKey
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.cli.main import cli
from mlflow_dynamodbstore.local.dynamodb_local import free_port
from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider
from tests.differential.scenarios.scorers import custom_scorer
from tests.differential_traces.builders import BASE_MS, info, span
from tests.mlflow_server import _wait_healthy, mlflow_server, stop_process_group

EVENT = WebhookEvent.from_str("registered_model.created")
# MLflow answers INVALID_STATE (e.g. RESTRICT on a non-empty workspace) with this status, on
# its SQL server too.
INVALID_STATE_STATUS = MlflowException("", INVALID_STATE).get_http_status_code()


@pytest.fixture
def workspaces_on(monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")


def scan(client, table: str) -> list[dict]:
    pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    return [item for page in pages for item in page["Items"]]


def keys_of(items: list[dict]) -> set[tuple[str, str]]:
    return {(i["PK"]["S"], i["SK"]["S"]) for i in items}


def mentions(items: list[dict], workspace: str) -> list[dict]:
    """Items that belong to ``workspace`` or are keyed on it in the table or an index."""
    pk = f"WS#{workspace}"

    def keyed_on_it(value: dict) -> bool:
        text = value.get("S")
        return isinstance(text, str) and (text == pk or text.startswith(pk + "#"))

    return [
        item
        for item in items
        if item.get("workspace", {}).get("S") == workspace
        or any(keyed_on_it(v) for v in item.values())
    ]


def populate(store_uri: str, workspace: str, *, runs: int = 3, keys: int = 3, traces: int = 2):
    """Runs with histories, params (one spilled) and inputs, traces with spans, logged models,
    a deleted experiment, scorers with versions and online configs (one active), registered
    models with versions and an alias, webhooks (one deleted)."""
    tracking = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    registry = DynamoDBRegistryStore(store_uri)
    with WorkspaceContext(workspace):
        exp = tracking.create_experiment(f"{workspace}-exp")
        old = tracking.create_experiment(f"{workspace}-old")
        for n in range(runs):
            run = tracking.create_run(exp, "u", n, [], f"r{n}").info.run_id
            metrics = [Metric(f"m{k}", s, s, s) for k in range(keys) for s in range(2)]
            params = [Param("p", "1"), Param("big", "x" * 2000)]
            tracking.log_batch(run, metrics, params, [RunTag("t", "v")])
        model = tracking.create_logged_model(exp)
        tracking.log_batch(run, [Metric("acc", 1.0, 1, 0, model_id=model.model_id)], [], [])
        first_trace = sum(map(ord, workspace)) * 10_000  # trace ids differ per workspace
        for t in range(traces):
            tracking.log_spans(exp, [span(first_trace + t, 1, None, "root", 0, 10)])
        # an AI gateway trace (its cost item) and an MCP server with everything it can hold
        tracking.start_trace(
            info(
                f"tr-gw-{workspace}",
                exp,
                BASE_MS,
                metadata={
                    TraceMetadataKey.GATEWAY_ENDPOINT_ID: "e-1",
                    TraceMetadataKey.COST: json.dumps({"total_cost": 0.5}),
                },
            )
        )
        mcp = "com.example/weather"
        tracking.create_mcp_server_version({"name": mcp, "version": "1.0.0"})
        tracking.set_mcp_server_tag(mcp, "k", "v")
        tracking.set_mcp_server_version_tag(mcp, "1.0.0", "k", "v")
        tracking.set_mcp_server_alias(mcp, "prod", "1.0.0")
        tracking.create_mcp_access_endpoint(mcp, "https://x", server_alias="prod")
        tracking.delete_experiment(old)
        tracking.register_scorer(exp, "judge", custom_scorer("judge"))
        tracking.register_scorer(exp, "judge", custom_scorer("judge", "return 2"))
        tracking.upsert_online_scoring_config(exp, "judge", 0.0)
        tracking.register_scorer(exp, "idle", custom_scorer("idle"))
        tracking.delete_scorer(exp, "idle", 1)  # no version left: any rate is accepted
        tracking.upsert_online_scoring_config(exp, "idle", 0.5)  # in the active listing
        registry.create_registered_model(f"{workspace}-model")
        for _ in range(2):
            registry.create_model_version(f"{workspace}-model", "s3://b/m", run_id=run)
        registry.set_registered_model_alias(f"{workspace}-model", "champion", "1")
        registry.create_webhook("hook", "https://localhost/h", [EVENT])
        gone = registry.create_webhook("old-hook", "https://localhost/h", [EVENT])
        registry.delete_webhook(gone.webhook_id)


def test_cascade_leaves_nothing_of_the_workspace(workspaces_on, store_uri, ddb_client, table_name):
    provider = DynamoDBWorkspaceProvider(store_uri)
    populate(store_uri, "default")
    before = keys_of(scan(ddb_client, table_name))
    provider.create_workspace(Workspace("team-a"))
    populate(store_uri, "team-a")
    added = keys_of(scan(ddb_client, table_name)) - before
    assert len(added) > 30

    report = provider.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)

    after = scan(ddb_client, table_name)
    assert keys_of(after) == before  # every item the workspace added is gone, no other
    assert mentions(after, "team-a") == []
    assert report.items >= len(added) - 1  # all but the workspace item, deleted last


def test_set_default_moves_every_item(workspaces_on, store_uri, ddb_client, table_name):
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace("team-a"))
    populate(store_uri, "team-a")
    with WorkspaceContext("team-a"):  # an indexed experiment tag (docs/tag-index.md)
        t = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
        t.set_experiment_tag(
            t.get_experiment_by_name("team-a-exp").experiment_id, ExperimentTag("mlflow.x", "y")
        )
    owned = [i for i in scan(ddb_client, table_name) if "workspace" in i]
    extra = [i for i in owned if i not in mentions(owned, "team-a")]
    assert len(extra) == 1, [(i["PK"], i["SK"], i.get("workspace")) for i in extra]

    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)

    after = scan(ddb_client, table_name)
    assert mentions(after, "team-a") == []
    # Every item that belonged to team-a now is default's.
    # (items whose keys hold the workspace name, e.g. MCP servers', got default's keys)
    now_default = [i for i in after if i.get("workspace", {}).get("S") == "default"]
    moved = {(pk.replace("WS#team-a#", "WS#default#"), sk) for pk, sk in keys_of(owned)}
    assert keys_of(now_default) == moved, keys_of(now_default) ^ moved
    tracking = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    with WorkspaceContext("default"):
        exp = tracking.get_experiment_by_name("team-a-exp")
        runs = tracking.search_runs([exp.experiment_id], "", ViewType.ACTIVE_ONLY)
        assert len(runs) == 3 and runs[0].data.params["big"] == "x" * 2000
        # the tag index moved with them: indexed searches in default find them
        name = runs[0].info.run_name
        found = tracking.search_runs(
            [exp.experiment_id], f"attributes.run_name = '{name}'", ViewType.ACTIVE_ONLY
        )
        assert [r.info.run_id for r in found] == [runs[0].info.run_id]
        found = tracking.search_experiments(filter_string="tags.mlflow.x = 'y'")
        assert [e.name for e in found] == ["team-a-exp"]
        # two from spans, one gateway trace
        assert len(tracking.search_traces([exp.experiment_id])[0]) == 3
        assert tracking.get_scorer(exp.experiment_id, "judge").scorer_version == 2
        active = tracking.scorers.active_online("default")
        assert [head["scorer_name"] for _, head in active] == []  # "idle" has no version
        tracking.register_scorer(exp.experiment_id, "idle", custom_scorer("idle"))
        [(config, _)] = tracking.scorers.active_online("default")
        assert float(config["sample_rate"]) == 0.5
        # the heads moved to default's scorer listing (read for three ids and more)
        listed = tracking.list_scorers_across_experiments([exp.experiment_id, "0", "999"])
        assert sorted(s.scorer_name for s in listed) == ["idle", "judge"]
        # A moved run can be written again in its new workspace.
        tracking.log_metric(runs[0].info.run_id, Metric("after", 1.0, 1, 0))
        # the MCP server and the gateway trace's cost are default's now
        server = tracking.get_mcp_server("com.example/weather")
        assert (server.workspace, server.aliases, len(server.access_endpoints)) == (
            "default",
            {"prod": "1.0.0"},
            1,
        )
        assert tracking.sum_gateway_trace_cost(0, BASE_MS + 1, workspace="default") == 0.5
        assert tracking.sum_gateway_trace_cost(0, BASE_MS + 1, workspace="team-a") == 0.0


def test_a_deleting_workspace_is_gone_and_resumes_in_its_mode(
    workspaces_on, store_uri, ddb_client, table_name
):
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace("team-a"))
    populate(store_uri, "team-a", runs=1, traces=1)
    # A job interrupted right after it was recorded (the first step of every delete).
    provider.workspaces.mark_deleting("team-a", "CASCADE", 1)
    assert [w.name for w in provider.list_workspaces()] == ["default"]
    for call, code in [
        (lambda: provider.get_workspace("team-a"), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: provider.update_workspace(Workspace("team-a", "d")), "RESOURCE_DOES_NOT_EXIST"),
        (lambda: provider.create_workspace(Workspace("team-a")), "INVALID_STATE"),
        (
            lambda: provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT),
            "INVALID_STATE",
        ),
    ]:
        with pytest.raises(MlflowException) as err:
            call()
        assert err.value.error_code == code
    provider.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)
    assert mentions(scan(ddb_client, table_name), "team-a") == []


def _rest(url: str, method: str, path: str, body: dict | None = None, workspace: str | None = None):
    headers = {"Content-Type": "application/json"}
    if workspace:
        headers["X-MLFLOW-WORKSPACE"] = workspace
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url}{path}", data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=300) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _start_server(store_uri: str, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """A server in its own process group, so the test can kill it and its workers at once."""
    port = free_port()
    log = tmp_path / f"server-{port}.log"
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store_uri,
        "--artifacts-destination", str(tmp_path / "artifacts"), "--enable-workspaces",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    # without MLflow's job runner and its huey consumers, as tests/mlflow_server.py starts
    # servers (eight more Python processes to start and stop, twice, that it never uses)
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env
        )
    url = f"http://127.0.0.1:{port}"
    _wait_healthy(url, proc, log)
    return proc, url


@pytest.mark.slow
def test_server_killed_during_cascade_then_rerun_finishes(
    workspaces_on, store_uri, ddb_client, table_name, tmp_path
):
    DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")  # seeds the table
    provider = DynamoDBWorkspaceProvider(store_uri)
    before = keys_of(scan(ddb_client, table_name))
    provider.create_workspace(Workspace("team-a"))
    populate(store_uri, "team-a", runs=40, keys=30, traces=100)
    # The workspace's items (the table-wide experiment id counter is not one of them).
    owned = {k for k in keys_of(scan(ddb_client, table_name)) - before if k[0] != "CONFIG"}
    assert len(owned) > 2500, len(owned)  # "a few thousand items"

    proc, url = _start_server(store_uri, tmp_path)
    delete = subprocess.Popen(  # the client's DELETE, cut off when the server dies
        [sys.executable, "-c", f"import urllib.request as u; u.urlopen(u.Request("
         f"'{url}/api/3.0/mlflow/workspaces/team-a?mode=CASCADE', method='DELETE'), timeout=600)"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            left = len(keys_of(scan(ddb_client, table_name)) & owned)
            if left < len(owned) - 300:  # well under way
                break
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        delete.kill()
    left = keys_of(scan(ddb_client, table_name)) & owned
    assert 0 < len(left) < len(owned), "kill the server half way"
    assert [w.name for w in provider.list_workspaces()] == ["default"]  # gone at once

    proc, url = _start_server(store_uri, tmp_path)
    try:
        status, body = _rest(url, "GET", "/api/3.0/mlflow/workspaces/team-a")
        assert status == 404, body
        status, body = _rest(url, "DELETE", "/api/3.0/mlflow/workspaces/team-a?mode=CASCADE")
        assert status == 204, body
    finally:
        stop_process_group(proc)
    after = scan(ddb_client, table_name)
    assert keys_of(after) & owned == set()
    assert mentions(after, "team-a") == []


@pytest.mark.slow
def test_two_servers_see_each_others_workspaces(workspaces_on, store_uri, tmp_path):
    args = ["--enable-workspaces"]
    with (
        mlflow_server(store_uri, tmp_path / "a", args) as one,
        mlflow_server(store_uri, tmp_path / "b", args) as two,
    ):
        status, body = _rest(one, "POST", "/api/3.0/mlflow/workspaces", {"name": "team-x"})
        assert status == 201, body
        status, body = _rest(two, "GET", "/api/3.0/mlflow/workspaces/team-x")
        assert status == 200 and json.loads(body)["workspace"]["name"] == "team-x"
        status, body = _rest(
            two, "PATCH", "/api/3.0/mlflow/workspaces/team-x", {"description": "shared"}
        )
        assert status == 200, body
        status, body = _rest(one, "GET", "/api/3.0/mlflow/workspaces/team-x")
        assert json.loads(body)["workspace"]["description"] == "shared"
        # A request in the workspace works on both, until one deletes it.
        experiment = {"name": "e"}
        status, _ = _rest(one, "POST", "/api/2.0/mlflow/experiments/create", experiment, "team-x")
        assert status == 200
        status, body = _rest(two, "DELETE", "/api/3.0/mlflow/workspaces/team-x?mode=RESTRICT")
        assert status == INVALID_STATE_STATUS and b"INVALID_STATE" in body
        status, _ = _rest(two, "DELETE", "/api/3.0/mlflow/workspaces/team-x?mode=CASCADE")
        assert status == 204
        status, body = _rest(one, "GET", "/api/3.0/mlflow/workspaces/team-x")
        assert status == 404, body
        status, body = _rest(
            one, "POST", "/api/2.0/mlflow/experiments/create", experiment, "team-x"
        )
        assert status == 404 and b"RESOURCE_DOES_NOT_EXIST" in body


def test_admin_command(workspaces_on, store_uri, ddb_client, table_name):
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["workspace", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout  # the progress bar goes to stderr

    DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")  # seeds the default workspace
    run("create", store_uri, "team-a", "--description", "first")
    populate(store_uri, "team-a")
    listed = json.loads(run("list", store_uri, "--json"))
    assert [w["name"] for w in listed] == ["default", "team-a"]
    assert "first" in run("list", store_uri)
    assert (
        json.loads(run("update", store_uri, "team-a", "--description", "second", "--json"))[0][
            "description"
        ]
        == "second"
    )

    dry = json.loads(run("delete", store_uri, "team-a", "--mode", "cascade", "--dry-run", "--json"))
    assert (dry["experiments"], dry["runs"], dry["registered_models"], dry["webhooks"]) == (
        2,
        3,
        1,
        2,
    )
    assert len(mentions(scan(ddb_client, table_name), "team-a")) > 10  # nothing changed

    refused = runner.invoke(cli, ["workspace", "delete", store_uri, "team-a"])
    assert refused.exit_code == 1 and "INVALID_STATE" in refused.output
    unconfirmed = runner.invoke(
        cli, ["workspace", "delete", store_uri, "team-a", "--mode", "cascade"], input="n\n"
    )
    assert unconfirmed.exit_code == 1  # aborted at the prompt
    done = json.loads(run("delete", store_uri, "team-a", "--mode", "cascade", "--yes", "--json"))
    assert done["items"] > 30
    assert mentions(scan(ddb_client, table_name), "team-a") == []
    missing = runner.invoke(cli, ["workspace", "delete", store_uri, "team-a", "--yes"])
    assert missing.exit_code == 1 and "RESOURCE_DOES_NOT_EXIST" in missing.output


# ---- AI gateway items ------------------------------------------------------------------
AIGW_SECRET = {"api_key": "sk-moved-1111111111"}


def populate_gateway(store_uri: str, workspace: str, prefix: str = "") -> None:
    """One of each AI gateway item: a secret, a model definition, an endpoint with a tag, a
    binding, a guardrail (its scorer in an experiment) attached to it, a budget policy."""
    from mlflow.entities import GatewayEndpointTag
    from mlflow.entities.gateway_budget_policy import (
        BudgetAction,
        BudgetDuration,
        BudgetDurationUnit,
        BudgetTargetScope,
        BudgetUnit,
    )
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    from tests.differential.scenarios.ai_gateway import primary
    from tests.differential.scenarios.scorers import judge

    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    with WorkspaceContext(workspace):
        s = store.create_gateway_secret(f"{prefix}key", AIGW_SECRET)
        d = store.create_gateway_model_definition(f"{prefix}def", s.secret_id, "openai", "gpt-4o")
        e = store.create_gateway_endpoint(f"{prefix}chat", [primary(d.model_definition_id)])
        store.set_gateway_endpoint_tag(e.endpoint_id, GatewayEndpointTag("team", "a"))
        store.create_endpoint_binding(e.endpoint_id, "scorer", f"{prefix}res")
        store.create_budget_policy(
            BudgetUnit.USD,
            10,
            BudgetDuration(unit=BudgetDurationUnit.DAYS, value=1),
            BudgetTargetScope.ENDPOINT,
            BudgetAction.ALERT,
            target_value=e.endpoint_id,
        )
        experiment = store.create_experiment(f"{prefix}guarded")
        scorer = store.register_scorer(experiment, "polite", judge())
        g = store.create_gateway_guardrail(
            f"{prefix}guard", scorer.scorer_id, 1, GuardrailStage.BEFORE, GuardrailAction.VALIDATION
        )
        store.add_guardrail_to_endpoint(e.endpoint_id, g.guardrail_id)


def aigw_keys(items: list[dict], workspace: str) -> set[tuple[str, str]]:
    return {k for k in keys_of(items) if k[0].startswith(f"WS#{workspace}#AIGW#")}


def test_cascade_leaves_no_gateway_item_even_when_interrupted(
    workspaces_on, store_uri, ddb_client, table_name, monkeypatch
):
    from mlflow_dynamodbstore.workspaces.cascade import Cascade

    provider = DynamoDBWorkspaceProvider(store_uri)
    populate_gateway(store_uri, "default")
    before = keys_of(scan(ddb_client, table_name))
    provider.create_workspace(Workspace("team-a"))
    populate_gateway(store_uri, "team-a")  # the same names: partitions are per workspace
    kinds = {pk.split("#AIGW#")[1] for pk, _ in aigw_keys(scan(ddb_client, table_name), "team-a")}
    assert kinds == {"SECRETS", "MODELDEFS", "ENDPOINTS", "BINDINGS", "GUARDRAILS", "BUDGETS"}

    # A crash half way through the gateway partitions (after the bindings went) ...
    real = Cascade.delete_partition

    def crash_on_endpoints(self, pk, root_sk="META"):
        if pk.endswith("#AIGW#ENDPOINTS"):
            raise RuntimeError("crash")
        return real(self, pk, root_sk)

    monkeypatch.setattr(Cascade, "delete_partition", crash_on_endpoints)
    with pytest.raises(RuntimeError):
        provider.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)
    left = aigw_keys(scan(ddb_client, table_name), "team-a")
    assert left and not any("#AIGW#BINDINGS" in pk for pk, _ in left)
    # ... and the rerun finishes it.
    monkeypatch.setattr(Cascade, "delete_partition", real)
    provider.delete_workspace("team-a", WorkspaceDeletionMode.CASCADE)

    after = scan(ddb_client, table_name)
    assert aigw_keys(after, "team-a") == set()
    assert mentions(after, "team-a") == []
    assert keys_of(after) == before  # default's gateway items untouched
    # A workspace re-created under the name sees none of the old items.
    provider.create_workspace(Workspace("team-a"))
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    with WorkspaceContext("team-a"):
        assert store.list_secret_infos() == []
        assert store.list_gateway_endpoints() == []
        assert store.list_gateway_model_definitions() == []
        assert store.list_gateway_guardrails() == []
        assert store.list_budget_policies() == []
        assert store.list_endpoint_bindings() == []


def test_set_default_moves_gateway_items_even_when_interrupted(
    workspaces_on, store_uri, ddb_client, table_name, monkeypatch
):
    from mlflow_dynamodbstore.gateway import TableGateway
    from mlflow_dynamodbstore.repositories.ai_gateway.secrets import decrypt
    from mlflow_dynamodbstore.schema import ai_gateway_keys as ak

    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace("team-a"))
    populate_gateway(store_uri, "team-a")
    moving = aigw_keys(scan(ddb_client, table_name), "team-a")

    # A crash between putting the endpoints' items into default and deleting team-a's.
    real = TableGateway.batch_write

    def crash_before_deleting_endpoints(self, puts=(), deletes=()):
        deletes = list(deletes)
        if any(k["PK"].endswith("#AIGW#ENDPOINTS") for k in deletes):
            raise RuntimeError("crash")
        return real(self, puts=puts, deletes=deletes)

    monkeypatch.setattr(TableGateway, "batch_write", crash_before_deleting_endpoints)
    with pytest.raises(RuntimeError):
        provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)
    monkeypatch.setattr(TableGateway, "batch_write", real)
    provider.delete_workspace("team-a", WorkspaceDeletionMode.SET_DEFAULT)

    after = scan(ddb_client, table_name)
    assert mentions(after, "team-a") == []
    assert {(pk.replace("WS#team-a#", "WS#default#"), sk) for pk, sk in moving} == aigw_keys(
        after, "default"
    )
    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    with WorkspaceContext("default"):
        [secret] = store.list_secret_infos()
        assert secret.secret_name == "key"
        [endpoint] = store.list_gateway_endpoints()
        assert endpoint.name == "chat" and [t.key for t in endpoint.tags] == ["team"]
        assert [m.model_definition.name for m in endpoint.model_mappings] == ["def"]
        [config] = store.list_endpoint_guardrail_configs(endpoint.endpoint_id)
        assert config.guardrail.name == "guard"
        assert [b.resource_id for b in store.list_endpoint_bindings()] == ["res"]
        assert [p.target_value for p in store.list_budget_policies()] == [endpoint.endpoint_id]
        # The secret still decrypts (its AAD is its id and name, not the workspace).
        item = store.gateway.get_item(ak.secret_key("default", secret.secret_id))
        assert decrypt(item) == AIGW_SECRET
        # The moved names are default's now: taken there, usable by name.
        with pytest.raises(MlflowException, match="already exists"):
            store.create_gateway_secret("key", AIGW_SECRET)
        store.update_gateway_endpoint(endpoint.endpoint_id, name="chat-2")
        assert store.get_gateway_endpoint(name="chat-2").endpoint_id == endpoint.endpoint_id


def _gateway_only(store_uri: str, workspace: str, endpoints: int) -> None:
    """Gateway items and nothing else (no usage-tracking experiment, no guardrail)."""
    from tests.differential.scenarios.ai_gateway import primary

    store = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    with WorkspaceContext(workspace):
        s = store.create_gateway_secret("key", AIGW_SECRET)
        d = store.create_gateway_model_definition("def", s.secret_id, "openai", "gpt-4o")
        for n in range(endpoints):
            store.create_gateway_endpoint(
                f"chat-{n}", [primary(d.model_definition_id)], usage_tracking=False
            )


def _requests(provider, name: str, mode) -> dict[str, int]:
    provider.gateway.stats.reset()
    with contextlib.suppress(MlflowException):  # RESTRICT refusing is counted too
        provider.delete_workspace(name, mode)
    return {op: s.requests for op, s in provider.gateway.stats.snapshot().items()}


def test_request_counts_of_gateway_items(workspaces_on, store_uri):
    provider = DynamoDBWorkspaceProvider(store_uri)
    for name in ("empty", "few", "many", "move"):
        provider.create_workspace(Workspace(name))
    _gateway_only(store_uri, "few", endpoints=1)
    _gateway_only(store_uri, "many", endpoints=30)
    _gateway_only(store_uri, "move", endpoints=2)

    # RESTRICT refuses after the same Queries whatever the workspace holds (5 gateway ones).
    few = _requests(provider, "few", WorkspaceDeletionMode.RESTRICT)
    assert few == _requests(provider, "many", WorkspaceDeletionMode.RESTRICT)
    empty = _requests(provider, "empty", WorkspaceDeletionMode.CASCADE)
    # CASCADE: the same Queries as an empty workspace (6 gateway partitions, 2 passes), and
    # one BatchWriteItem per 25 items of each non-empty partition.
    cascade = _requests(provider, "many", WorkspaceDeletionMode.CASCADE)
    assert cascade["Query"] == empty["Query"]
    # endpoints partition: 30 endpoints + 30 mappings + 30 names = 90 items -> 4 batches;
    # model definitions (2 items) and secrets (2 items): 1 each
    assert cascade["BatchWriteItem"] - empty.get("BatchWriteItem", 0) == 4 + 1 + 1
    # SET_DEFAULT: one transaction per name guard (1 secret, 1 definition, 2 endpoints),
    # puts and deletes of the other items (a BatchWriteItem each per partition).
    moved = _requests(provider, "move", WorkspaceDeletionMode.SET_DEFAULT)
    assert moved["TransactWriteItems"] == 4
    assert moved["BatchWriteItem"] == 2 * 3
