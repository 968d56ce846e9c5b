"""Differential scenarios: workspace isolation (against MLflow's workspace-aware SQL store)
and unusual but accepted input."""

from __future__ import annotations

import pytest
from mlflow.entities.model_registry import ModelVersionTag, RegisteredModelTag
from mlflow.entities.webhook import WebhookAction, WebhookEntity, WebhookEvent
from mlflow.utils.workspace_context import WorkspaceContext

VT, T = ModelVersionTag, RegisteredModelTag
EVENT = WebhookEvent(WebhookEntity.REGISTERED_MODEL, WebhookAction.CREATED)

WORKSPACE_SCENARIOS = {}
SCENARIOS = {}


def workspace_scenario(fn):
    WORKSPACE_SCENARIOS[fn.__name__] = fn
    return fn


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


@workspace_scenario
def same_names_in_two_workspaces(s):
    for ws in ["team-a", "team-b"]:
        with WorkspaceContext(ws):
            s.create_registered_model("m", tags=[T("ws", ws)])
            s.create_model_version("m", f"s3://{ws}", run_id="shared-run")
            s.set_registered_model_alias("m", "prod", 1)
    with WorkspaceContext("team-a"):
        s.create_model_version("m", "s3://second")
        s.rename_registered_model("m", "renamed")
        s.search_registered_models()
        s.search_model_versions()
        s.search_model_versions("run_id = 'shared-run'")
    with WorkspaceContext("team-b"):
        s.get_registered_model("m")
        s.get_registered_model("renamed")
        s.get_model_version_by_alias("m", "prod")
        s.search_model_versions("name = 'renamed'")
        s.delete_registered_model("m")
        s.search_registered_models()
    with WorkspaceContext("team-a"):
        s.get_registered_model("renamed")


@workspace_scenario
def webhooks_per_workspace(s):
    with WorkspaceContext("team-a"):
        s.create_webhook("hook-a", "https://localhost/a", [EVENT])
        s.list_webhooks()
    with WorkspaceContext("team-b"):
        s.list_webhooks()
        s.list_webhooks_by_event(EVENT)
        s.create_webhook("hook-b", "https://localhost/b", [EVENT])
        s.list_webhooks()


@workspace_scenario
def prompts_per_workspace(s):
    with WorkspaceContext("team-a"):
        s.create_prompt("p", tags={"x": "1"})
        s.create_prompt_version("p", "hello")
    with WorkspaceContext("team-b"):
        s.get_prompt("p")
        s.search_prompts()
        s.create_registered_model("p")
        s.search_registered_models()


@scenario
def odd_version_inputs(s):
    s.create_registered_model("m")
    s.create_model_version("m", "")
    s.create_model_version("m", "relative/path", run_id="")
    s.create_model_version("m", "s3://x", tags=[VT("empty", "")], description="")
    s.search_model_versions("run_id = ''")
    s.search_model_versions("run_id IN ('', 'x')")
    s.search_model_versions("tags.empty = ''")
    s.get_model_version_download_uri("m", 1)


@scenario
def odd_model_inputs(s):
    s.create_registered_model("m", description="")
    s.create_registered_model("with space ")
    s.create_registered_model(" leading")
    s.create_registered_model("quote'name")
    s.search_registered_models("name = 'quote\\'name'")
    s.search_registered_models("name LIKE '% '")
    s.get_registered_model(" leading")
    s.set_registered_model_tag("m", T("k", ""))
    s.search_registered_models("tags.k = ''")


@scenario
def many_versions_and_paging(s):
    s.create_registered_model("m")
    for i in range(25):
        s.create_model_version("m", f"s3://{i}", tags=[VT("mod", str(i % 4))])
    for i in range(1, 26, 3):
        s.transition_model_version_stage("m", i, ["Staging", "Production"][i % 2], i % 5 == 0)
    token = None
    for _ in range(4):
        page = s.search_model_versions("tags.mod != '0'", max_results=7, page_token=token)
        token = page.token if page else None
    s.get_latest_versions("m")
    s.get_registered_model("m")


@pytest.fixture(autouse=True)
def local_webhook_urls(monkeypatch):
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")


@pytest.mark.parametrize("name", sorted(WORKSPACE_SCENARIOS))
def test_workspaces(compare, name):
    compare(WORKSPACE_SCENARIOS[name], workspaces=True)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_odd_input(compare, name):
    compare(SCENARIOS[name])
