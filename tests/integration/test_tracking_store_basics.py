"""The tracking store constructs, provisions, seeds and serves the Default experiment."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.entities import ViewType
from mlflow.exceptions import MlflowException
from mlflow.tracking._tracking_service.utils import _get_store

from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore


def test_mlflow_resolves_the_dynamodb_scheme(store_uri):
    store = _get_store(store_uri, "s3://b/a")
    assert isinstance(store, DynamoDBTrackingStore)


def test_default_experiment(store):
    exp = store.get_experiment("0")
    assert exp.name == "Default"
    assert exp.lifecycle_stage == "active"
    assert exp.artifact_location == "s3://bucket/artifacts/0"
    assert store.get_experiment_by_name("Default").experiment_id == "0"
    assert store.get_experiment_by_name("nope") is None
    with pytest.raises(MlflowException) as info:
        store.get_experiment("12345")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"


def test_create_and_list_experiments(store):
    ids = [store.create_experiment(f"exp-{i}") for i in range(3)]
    assert ids == ["1", "2", "3"]
    with pytest.raises(MlflowException) as info:
        store.create_experiment("exp-1")
    assert info.value.error_code == "RESOURCE_ALREADY_EXISTS"
    page = store.search_experiments(view_type=ViewType.ALL, max_results=2)
    assert len(page) == 2 and page.token
    rest = store.search_experiments(view_type=ViewType.ALL, max_results=2, page_token=page.token)
    assert len(page) + len(rest) == 4 and rest.token is None
    everything = [*page, *rest]
    assert {e.name for e in everything} == {"Default", "exp-0", "exp-1", "exp-2"}
    # MLflow's default order: newest first, ties by id ascending
    keys = [(-e.creation_time, int(e.experiment_id)) for e in everything]
    assert keys == sorted(keys)


def test_client_over_store_uri(store_uri):
    client = mlflow.MlflowClient(tracking_uri=store_uri)
    assert client.get_experiment_by_name("Default").experiment_id == "0"
