"""Every method of MLflow's abstract stores is either implemented here, inherited from an
MLflow default that works on top of the implemented ones (prompts, for example), or on
the documented list of features not built yet (stores/tracking/unsupported.py: a clear 501,
never a 500). A new MLflow release that adds a store method fails here, not in users'
hands."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.abstract_store import AbstractStore as RegistryStore
from mlflow.store.tracking.abstract_store import AbstractStore as TrackingStore
from mlflow.store.workspace.abstract_store import AbstractStore as WorkspaceStore

from mlflow_dynamodbstore.stores.registry_store import DynamoDBRegistryStore
from mlflow_dynamodbstore.stores.tracking.unsupported import UNSUPPORTED_TRACKING_METHODS
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

PAIRS = [
    (TrackingStore, DynamoDBTrackingStore),
    (RegistryStore, DynamoDBRegistryStore),
    (WorkspaceStore, DynamoDBWorkspaceProvider),
]


def only_refuses(function) -> bool:
    """The base's method is abstract or its body only raises NotImplementedError."""
    if getattr(function, "__isabstractmethod__", False):
        return True
    tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    body = [
        statement
        for statement in tree.body[0].body
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant))
    ]
    return bool(body) and all(
        isinstance(s, ast.Raise) and "NotImplementedError" in ast.unparse(s) for s in body
    )


def unhandled(base: type, store: type) -> list[str]:
    return [
        name
        for name, function in inspect.getmembers(base, inspect.isfunction)
        if not name.startswith("__")
        and getattr(store, name) is function  # inherited unchanged
        and only_refuses(function)
    ]


@pytest.mark.parametrize(("base", "store"), PAIRS, ids=lambda c: c.__module__.split(".")[2])
def test_every_abstract_store_method_is_implemented_or_listed(base, store):
    assert unhandled(base, store) == []


def test_the_check_notices_a_method_nobody_handled():
    class Base:
        def implemented(self):
            raise NotImplementedError

        def forgotten(self):
            """A new MLflow store method."""
            raise NotImplementedError("not yet")

        def with_default(self):
            return self.implemented()

    class Store(Base):
        def implemented(self):
            return 1

    assert unhandled(Base, Store) == ["forgotten"]


def test_listed_features_are_all_mlflow_store_methods():
    """The refusal list names only real methods (a typo would silently refuse nothing)."""
    assert [n for n in UNSUPPORTED_TRACKING_METHODS if not hasattr(TrackingStore, n)] == []


@pytest.mark.parametrize("name", UNSUPPORTED_TRACKING_METHODS)
def test_each_deliberate_refusal_answers_not_implemented(name):
    """A listed method answers MLflow's NOT_IMPLEMENTED (HTTP 501), never a bare
    NotImplementedError (a 500), and stays a NotImplementedError for MLflow's fallbacks."""
    store = DynamoDBTrackingStore.__new__(DynamoDBTrackingStore)  # refusals read no state
    with pytest.raises(MlflowException) as refused:
        getattr(store, name)("any", key="argument")
    assert refused.value.error_code == "NOT_IMPLEMENTED"
    assert refused.value.get_http_status_code() == 501
    assert isinstance(refused.value, NotImplementedError)
    assert name in str(refused.value)
