"""The endpoint configs the AI gateway invokes with (MLflow's ``config_resolver``, wired to
this store by ``ai_gateway/mlflow_patch.py``): the same ``GatewayEndpointConfig`` as MLflow's
SQL store builds for the same calls, secrets decrypted, cached and invalidated as the SQL
store does, at the request counts docs/access-patterns.md states."""

from __future__ import annotations

import pytest
from mlflow.entities import FallbackConfig, GatewayEndpointModelConfig, RoutingStrategy
from mlflow.entities.gateway_endpoint import FallbackStrategy, GatewayModelLinkageType
from mlflow.exceptions import MlflowException
from mlflow.server import gateway_api
from mlflow.store.tracking.gateway import config_resolver

KEY = "sk-resolver-SECRET-0123456789"


@pytest.fixture(autouse=True)
def _kek(monkeypatch):
    monkeypatch.setenv("MLFLOW_CRYPTO_KEK_PASSPHRASE", "test-only-resolver-passphrase")


def _setup(store, name="chat"):
    s1 = store.create_gateway_secret(
        "primary-key",
        {"api_key": KEY},
        provider="openai",
        auth_config={"api_base": "http://127.0.0.1:9/v1"},
    )
    s2 = store.create_gateway_secret("fallback-key", {"api_key": KEY + "-2"}, provider="openai")
    d1 = store.create_gateway_model_definition("main", s1.secret_id, "openai", "gpt-4o")
    d2 = store.create_gateway_model_definition("backup", s2.secret_id, "openai", "gpt-4o-mini")
    endpoint = store.create_gateway_endpoint(
        name,
        [
            GatewayEndpointModelConfig(
                model_definition_id=d1.model_definition_id,
                linkage_type=GatewayModelLinkageType.PRIMARY,
                weight=1.0,
            ),
            GatewayEndpointModelConfig(
                model_definition_id=d2.model_definition_id,
                linkage_type=GatewayModelLinkageType.FALLBACK,
                fallback_order=1,
            ),
        ],
        routing_strategy=RoutingStrategy.REQUEST_BASED_TRAFFIC_SPLIT,
        fallback_config=FallbackConfig(strategy=FallbackStrategy.SEQUENTIAL, max_attempts=2),
    )
    return endpoint, (s1, s2), (d1, d2)


def _normalised(config, endpoint, definitions) -> dict:
    data = config.to_dict()
    names = {d.model_definition_id: d.name for d in definitions}
    data["endpoint_id"] = "<endpoint>" if data["endpoint_id"] == endpoint.endpoint_id else "?"
    if data.get("experiment_id") is not None:
        data["experiment_id"] = "<experiment>"
    for model in data["models"]:
        model["model_definition_id"] = names[model["model_definition_id"]]
    return data


def test_endpoint_config_as_the_sql_store(store, sql):
    results = []
    for s in (sql, store):
        endpoint, _, definitions = _setup(s)
        config = config_resolver.get_endpoint_config("chat", store=s)
        results.append(_normalised(config, endpoint, definitions))
    assert results[0] == results[1]
    ours = results[1]
    secrets = [m["secret_value"] for m in ours["models"]]
    assert secrets == [{"api_key": KEY}, {"api_key": KEY + "-2"}]
    assert ours["models"][0]["auth_config"] == {"api_base": "http://127.0.0.1:9/v1"}
    assert ours["usage_tracking"] is True and ours["experiment_id"] == "<experiment>"
    # gateway_api's own name for the resolver is the wrapped one, and its check accepts us
    assert gateway_api.get_endpoint_config is config_resolver.get_endpoint_config
    gateway_api._validate_store(store)


def test_resource_endpoint_configs_as_the_sql_store(store, sql):
    results = []
    for s in (sql, store):
        endpoint, _, definitions = _setup(s)
        s.create_endpoint_binding(endpoint.endpoint_id, "scorer", "scorer-1")
        configs = config_resolver.get_resource_endpoint_configs("scorer", "scorer-1", store=s)
        none = config_resolver.get_resource_endpoint_configs("scorer", "other", store=s)
        results.append(([_normalised(c, endpoint, definitions) for c in configs], none))
    assert results[0] == results[1]
    assert len(results[1][0]) == 1 and results[1][1] == []


def test_missing_endpoint_and_deleted_secret_as_the_sql_store(store, sql):
    outcomes = []
    for s in (sql, store):
        _, (s1, _), _ = _setup(s)
        with pytest.raises(MlflowException) as missing:
            config_resolver.get_endpoint_config("nope", store=s)
        s.delete_gateway_secret(s1.secret_id)
        config = config_resolver.get_endpoint_config("chat", store=s)
        outcomes.append(
            (
                missing.value.error_code,
                missing.value.message,
                [m.model_name for m in config.models],
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[1][2] == ["gpt-4o-mini"]  # the definition without its secret is skipped


def _requests(store, call):
    start = store.gateway.stats.total_requests
    result = call()
    return store.gateway.stats.total_requests - start, result


def test_cache_requests_and_invalidation(store):
    endpoint, (s1, _), _ = _setup(store)
    store._invalidate_secret_cache()
    # name guard, the endpoint's items, its definitions, their secrets
    count, first = _requests(store, lambda: config_resolver.get_endpoint_config("chat", store))
    assert count == 4
    count, cached = _requests(store, lambda: config_resolver.get_endpoint_config("chat", store))
    assert count == 0 and cached == first
    # a change here clears the cache (as SQL's _invalidate_secret_cache): the new key is used
    store.update_gateway_secret(s1.secret_id, secret_value={"api_key": KEY + "-rotated"})
    count, fresh = _requests(store, lambda: config_resolver.get_endpoint_config("chat", store))
    assert count == 4 and fresh.models[0].secret_value == {"api_key": KEY + "-rotated"}
    # another store instance on the same table in this process shares the cache
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    other = DynamoDBTrackingStore(store.store_uri, "s3://bucket/other")
    count, _ = _requests(other, lambda: config_resolver.get_endpoint_config("chat", other))
    assert count == 0
    other.update_gateway_endpoint(endpoint.endpoint_id, name="renamed")
    with pytest.raises(MlflowException, match="GatewayEndpoint not found"):
        config_resolver.get_endpoint_config("chat", store)
    # the cached value holds no plaintext (MLflow's SecretCache encrypts what it keeps)
    assert KEY not in repr(vars(store.secret_cache))


def test_guardrail_loading_requests(store):
    """What MLflow's ``load_guardrails`` asks per invocation of a guarded endpoint."""
    from mlflow.entities.gateway_guardrail import GuardrailAction, GuardrailStage

    from tests.differential.scenarios.scorers import judge

    endpoint, _, _ = _setup(store)
    experiment_id = store.create_experiment("judges")
    version = store.register_scorer(experiment_id, "polite", judge(model="gateway:/chat"))
    guardrail = store.create_gateway_guardrail(
        "g", version.scorer_id, 1, GuardrailStage.BEFORE, GuardrailAction.VALIDATION
    )
    store.add_guardrail_to_endpoint(endpoint.endpoint_id, guardrail.guardrail_id, 1)

    def load():
        configs = store.list_endpoint_guardrail_configs(endpoint.endpoint_id)
        return [store.resolve_endpoint_in_scorer(c.guardrail.scorer) for c in configs]

    count, resolved = _requests(store, load)
    assert len(resolved) == 1 and '"gateway:/chat"' in resolved[0]._serialized_scorer
    # the endpoint's items (its guardrail configs among them), the guardrails, and the
    # judge's endpoint by id (its items, definitions, secret names)
    assert count == 5
