"""The AI gateway invocation wiring (ai_gateway/mlflow_patch.py): MLflow's gateway routes and
resolver are wrapped on the supported releases, other stores keep MLflow's behaviour, and on
an unknown release or a changed module nothing is patched (with a warning)."""

from __future__ import annotations

import logging
import types

import pytest
from fastapi import HTTPException

import mlflow_dynamodbstore.plugin  # noqa: F401  (installs the hooks, as MLflow's entry points do)
from mlflow_dynamodbstore.ai_gateway import mlflow_patch


def test_mlflows_modules_are_wrapped_on_this_release():
    from mlflow.server import gateway_api
    from mlflow.store.tracking.gateway import config_resolver

    assert mlflow_patch._mlflow_minor() in mlflow_patch.SUPPORTED_MLFLOW_MINORS
    for function in (
        gateway_api._validate_store,
        config_resolver.get_endpoint_config,
        config_resolver.get_resource_endpoint_configs,
    ):
        assert getattr(function, mlflow_patch._PATCHED)
    assert gateway_api.get_endpoint_config is config_resolver.get_endpoint_config
    # another store than ours still gets MLflow's refusal
    with pytest.raises(HTTPException) as refused:
        gateway_api._validate_store(object())
    assert refused.value.status_code == 500
    # patching twice changes nothing
    wrapped = gateway_api._validate_store
    mlflow_patch.patch_gateway_api(gateway_api)
    mlflow_patch.patch_config_resolver(config_resolver)
    assert gateway_api._validate_store is wrapped


def _module(name: str, *functions: str) -> types.ModuleType:
    module = types.ModuleType(name)
    for function in functions:
        setattr(module, function, lambda *a, **k: "original")
    return module


def test_an_unknown_release_is_left_unpatched(monkeypatch, caplog):
    monkeypatch.setattr(mlflow_patch, "_mlflow_minor", lambda: (3, 99))
    api = _module("fake_gateway_api", "_validate_store", "get_endpoint_config")
    resolver = _module(
        "fake_resolver", "get_endpoint_config", "get_resource_endpoint_configs", "_get_store"
    )
    before = (api._validate_store, resolver.get_endpoint_config)
    with caplog.at_level(logging.WARNING):
        mlflow_patch.patch_gateway_api(api)
        mlflow_patch.patch_config_resolver(resolver)
    assert (api._validate_store, resolver.get_endpoint_config) == before
    assert "cannot be invoked on dynamodb:// stores" in caplog.text
    assert "MLflow 3.99" in caplog.text


def test_a_changed_module_is_left_unpatched(caplog):
    resolver = _module("fake_resolver", "get_endpoint_config", "_get_store")  # one is gone
    before = resolver.get_endpoint_config
    with caplog.at_level(logging.WARNING):
        mlflow_patch.patch_config_resolver(resolver)
    assert resolver.get_endpoint_config is before
    assert "missing: get_resource_endpoint_configs" in caplog.text
