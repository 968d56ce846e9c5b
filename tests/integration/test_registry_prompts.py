"""The prompt registry through MLflow's public API with this store as the registry."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from tests.sqlite_template import migrated_sqlite_uri


@pytest.fixture
def registry(store_uri, tmp_path):
    previous_registry = mlflow.get_registry_uri()
    previous_tracking = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(migrated_sqlite_uri(tmp_path / "tracking.db"))
    mlflow.set_registry_uri(store_uri)
    yield store_uri
    mlflow.set_registry_uri(previous_registry)
    mlflow.set_tracking_uri(previous_tracking)


def test_register_load_alias_and_search_prompts(registry):
    v1 = mlflow.genai.register_prompt("greeting", "Hello {{name}}!", commit_message="first")
    v2 = mlflow.genai.register_prompt(
        "greeting", [{"role": "user", "content": "Hi {{name}}"}], tags={"lang": "en"}
    )
    assert (v1.version, v2.version) == (1, 2)

    loaded = mlflow.genai.load_prompt("prompts:/greeting/1")
    assert loaded.template == "Hello {{name}}!"
    assert loaded.format(name="Ada") == "Hello Ada!"
    assert loaded.commit_message == "first"

    mlflow.genai.set_prompt_alias("greeting", alias="production", version=2)
    by_alias = mlflow.genai.load_prompt("prompts:/greeting@production")
    assert by_alias.version == 2 and by_alias.tags["lang"] == "en"
    latest = mlflow.genai.load_prompt("prompts:/greeting@latest")
    assert latest.version == 2

    mlflow.genai.register_prompt("farewell", "Bye {{name}}")
    names = sorted(p.name for p in mlflow.genai.search_prompts())
    assert names == ["farewell", "greeting"]
    assert [p.name for p in mlflow.genai.search_prompts("name = 'farewell'")] == ["farewell"]

    mlflow.genai.delete_prompt_alias("greeting", alias="production")
    with pytest.raises(MlflowException):
        mlflow.genai.load_prompt("prompts:/greeting@production")


def test_prompts_stay_out_of_model_listings(registry):
    from mlflow import MlflowClient

    client = MlflowClient(registry_uri=registry)
    client.create_registered_model("a-model")
    mlflow.genai.register_prompt("a-prompt", "text")
    assert [m.name for m in client.search_registered_models()] == ["a-model"]
    assert client.search_model_versions() == []
    assert [p.name for p in mlflow.genai.search_prompts()] == ["a-prompt"]
    with pytest.raises(MlflowException, match="already taken"):
        client.create_registered_model("a-prompt")
