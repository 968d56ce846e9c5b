"""mlflow.register_model / load_model through this registry (tracking on SQLite here: the
registry must work with any tracking store)."""

from __future__ import annotations

import mlflow
import pytest

from tests.sqlite_template import migrated_sqlite_uri


class _Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


@pytest.fixture
def uris(store_uri, tmp_path):
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(migrated_sqlite_uri(tmp_path / "tracking.db"))
    mlflow.set_registry_uri(store_uri)
    yield
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])


def test_register_logged_model_and_load_it_by_alias(uris):
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=_Echo())
    mv = mlflow.register_model(info.model_uri, "echo")
    assert (mv.name, int(mv.version)) == ("echo", 1)
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("echo", "prod", mv.version)
    loaded = mlflow.pyfunc.load_model("models:/echo@prod")
    assert loaded.predict(["hi"]) == ["hi"]
    by_run = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert [int(v.version) for v in by_run] == [1]
    second = mlflow.register_model(f"runs:/{run.info.run_id}/model", "echo")
    assert int(second.version) == 2
