"""Differential scenarios: the prompt registry (AbstractStore's prompt methods on top of this
store) and webhooks."""

from __future__ import annotations

import pytest
from mlflow.entities.webhook import (
    WebhookAction,
    WebhookEntity,
    WebhookEvent,
    WebhookStatus,
)

SCENARIOS = {}

MV_CREATED = WebhookEvent(WebhookEntity.MODEL_VERSION, WebhookAction.CREATED)
MV_TAG_SET = WebhookEvent(WebhookEntity.MODEL_VERSION_TAG, WebhookAction.SET)
PROMPT_CREATED = WebhookEvent(WebhookEntity.PROMPT, WebhookAction.CREATED)


@pytest.fixture(autouse=True)
def local_webhook_urls(monkeypatch):
    # MLflow refuses webhook URLs that do not resolve to public IPs; this sandbox has no DNS.
    monkeypatch.setenv("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true")


def scenario(fn):
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def prompt_lifecycle(s):
    s.create_prompt("greet", description="Greeting", tags={"team": "nlp"})
    s.create_prompt_version("greet", "Hello {{name}}", description="v1", tags={"k": "v"})
    s.create_prompt_version(
        "greet",
        [{"role": "user", "content": "Hi {{name}}"}],
        response_format={"type": "object"},
        model_config={"temperature": 0.5},
    )
    s.get_prompt("greet")
    s.get_prompt_version("greet", 1)
    s.get_prompt_version("greet", "2")
    s.get_prompt_version("greet", 3)
    s.set_prompt_alias("greet", "production", 1)
    s.get_prompt_version_by_alias("greet", "production")
    s.get_prompt_version("greet", "production")
    s.search_prompt_versions("greet")
    s.search_prompt_versions("greet", max_results=1)
    s.delete_prompt_alias("greet", "production")
    s.get_prompt_version_by_alias("greet", "production")


@scenario
def prompts_and_models_kept_apart(s):
    s.create_registered_model("model")
    s.create_prompt("prompt")
    s.create_prompt_version("prompt", "text")
    s.create_prompt("model")
    s.create_registered_model("prompt")
    s.get_prompt("model")
    s.get_prompt_version("model", 1)
    s.search_prompt_versions("model")
    s.search_registered_models()
    s.search_model_versions()
    s.search_prompts()


@scenario
def search_prompts(s):
    for i, team in enumerate(["a", "b", "a"]):
        s.create_prompt(f"p{i}", tags={"team": team})
    s.create_registered_model("not-a-prompt", tags=[])
    s.search_prompts()
    s.search_prompts("tags.team = 'a'")
    s.search_prompts("name LIKE 'p%'", max_results=2)
    s.search_prompts(order_by=["name DESC"])
    s.set_prompt_tag("p1", "team", "a")
    s.search_prompts("tags.team = 'a'")
    s.delete_prompt_tag("p1", "team")
    s.get_prompt("p1")


@scenario
def search_prompts_by_experiment(s):
    s.create_prompt("p1", tags={"_mlflow_experiment_ids": ",1,2,"})
    s.create_prompt("p2", tags={"_mlflow_experiment_ids": ",2,"})
    s.search_prompts("experiment_id = '1'")
    s.search_prompts("experiment_id = '2' AND name = 'p2'")


@scenario
def prompt_version_tags_and_delete(s):
    s.create_prompt("p")
    s.create_prompt_version("p", "one")
    s.create_prompt_version("p", "two")
    s.set_prompt_version_tag("p", 1, "x", "y")
    s.get_prompt_version("p", 1)
    s.delete_prompt_version_tag("p", "1", "x")
    s.get_prompt_version("p", 1)
    s.delete_prompt_version("p", 1)
    s.get_prompt_version("p", 1)
    s.search_prompt_versions("p")
    s.delete_prompt("p")
    s.get_prompt("p")


@scenario
def webhooks_crud(s):
    s.create_webhook("hook-1", "https://localhost/a", [MV_CREATED], description="d", secret="s")
    s.create_webhook(
        "hook-2", "https://localhost/b", [MV_CREATED, MV_TAG_SET], status=WebhookStatus.DISABLED
    )
    s.list_webhooks()
    s.list_webhooks_by_event(MV_TAG_SET)
    s.list_webhooks_by_event(PROMPT_CREATED)


@scenario
def webhooks_paging(s):
    for i in range(5):
        s.create_webhook(f"hook-{i}", f"https://localhost/{i}", [MV_CREATED])
    page = s.list_webhooks(max_results=2)
    page = s.list_webhooks(max_results=2, page_token=page.token)
    s.list_webhooks(max_results=2, page_token=page.token)
    page = s.list_webhooks_by_event(MV_CREATED, max_results=3)
    s.list_webhooks_by_event(MV_CREATED, max_results=3, page_token=page.token)
    for bad in [0, -1, 1001]:
        s.list_webhooks(max_results=bad)
        s.list_webhooks_by_event(MV_CREATED, max_results=bad)
    s.list_webhooks(page_token="junk")


@scenario
def webhooks_bad_input(s):
    s.create_webhook("", "https://localhost", [MV_CREATED])
    s.create_webhook("-bad-", "https://localhost", [MV_CREATED])
    s.create_webhook("ok", "", [MV_CREATED])
    s.create_webhook("ok", "ftp://example.com", [MV_CREATED])
    s.create_webhook("ok", "not a url", [MV_CREATED])
    s.create_webhook("ok", "https://localhost", [])
    s.create_webhook("ok", "https://localhost", ["model_version.created"])
    s.create_webhook(123, "https://localhost", [MV_CREATED])
    s.create_webhook("ok", "http://localhost", [MV_CREATED])
    s.create_webhook("ok", "https://", [MV_CREATED])
    s.list_webhooks()


def _first_webhook_id(s):
    hooks = s.raw("list_webhooks")()
    return hooks[0].webhook_id if hooks else "missing"


@scenario
def webhooks_update_delete(s):
    s.create_webhook("hook", "https://localhost/a", [MV_CREATED], secret="old")
    webhook_id = _first_webhook_id(s)
    s.get_webhook(webhook_id)
    s.update_webhook(webhook_id, name="renamed", description="new", url="https://localhost/b")
    s.update_webhook(webhook_id, events=[MV_TAG_SET, PROMPT_CREATED], secret="new")
    s.update_webhook(webhook_id, status=WebhookStatus.DISABLED)
    s.update_webhook(webhook_id)
    s.update_webhook(webhook_id, name="bad name!")
    s.update_webhook(webhook_id, url="nope")
    s.update_webhook(webhook_id, events=[])
    s.get_webhook(webhook_id)
    s.list_webhooks_by_event(MV_CREATED)
    s.list_webhooks_by_event(PROMPT_CREATED)
    s.delete_webhook(webhook_id)
    s.get_webhook(webhook_id)
    s.delete_webhook(webhook_id)
    s.update_webhook(webhook_id, name="x")
    s.list_webhooks()
    s.get_webhook("no-such-id")
    s.delete_webhook("no-such-id")
    s.update_webhook("no-such-id", name="bad name!")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_prompts_and_webhooks(compare, name):
    compare(SCENARIOS[name])
