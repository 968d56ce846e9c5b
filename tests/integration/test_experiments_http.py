"""Experiments through a real `mlflow server` with this plugin, driven by MlflowClient:
error codes arrive as the right HTTP errors and keyset page tokens survive the REST layer."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException

from tests.mlflow_server import mlflow_server


@pytest.mark.slow
def test_experiment_lifecycle_over_http(store_uri, tmp_path):
    with mlflow_server(store_uri, tmp_path) as url:
        client = MlflowClient(tracking_uri=url)
        ids = [client.create_experiment(f"http-{i}", tags={"i": str(i)}) for i in range(5)]

        names, token = [], None
        while True:
            page = client.search_experiments(max_results=2, page_token=token)
            names += [e.name for e in page]
            token = page.token
            if not token:
                break
        assert names == [f"http-{i}" for i in reversed(range(5))] + ["Default"]

        client.rename_experiment(ids[0], "renamed")
        client.set_experiment_tag(ids[0], "note", "x")
        client.delete_experiment_tag(ids[0], "i")
        assert client.get_experiment(ids[0]).tags == {"note": "x"}
        client.delete_experiment(ids[1])
        deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
        assert [e.experiment_id for e in deleted] == [ids[1]]
        client.restore_experiment(ids[1])

        failures = {
            "RESOURCE_ALREADY_EXISTS": lambda: client.rename_experiment(ids[1], "renamed"),
            "RESOURCE_DOES_NOT_EXIST": lambda: client.get_experiment("99999"),
            "INVALID_PARAMETER_VALUE": lambda: client.search_experiments(
                filter_string="name > 'a'"
            ),
        }
        for code, call in failures.items():
            with pytest.raises(MlflowException) as info:
                call()
            assert info.value.error_code == code
