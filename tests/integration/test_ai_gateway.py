"""AI gateway on DynamoDB Local: secrets are stored only as MLflow's ciphertext, reads and
errors never carry the value, and the common calls cost what docs/access-patterns.md says."""

from __future__ import annotations

from mlflow.entities import GatewayEndpointModelConfig
from mlflow.entities.gateway_endpoint import GatewayModelLinkageType
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.repositories.ai_gateway.secrets import decrypt
from mlflow_dynamodbstore.schema import ai_gateway_keys as ak

PLAINTEXT = "sk-live-PLAINTEXT-never-stored-0123456789"


def _scan_table(store) -> list[dict]:
    """A test-only Scan of the whole table, raw (as DynamoDB holds it)."""
    client = store._conn.gateway.client
    name = store._conn.gateway.table_name
    items, start = [], None
    while True:
        page = client.scan(TableName=name, **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def test_table_holds_only_ciphertext(store):
    info = store.create_gateway_secret("k", {"api_key": PLAINTEXT}, provider="openai")
    store.update_gateway_secret(info.secret_id, secret_value={"api_key": PLAINTEXT + "2"})
    raw = repr(_scan_table(store))
    assert "PLAINTEXT" not in raw
    assert PLAINTEXT[-10:] not in raw
    # what is stored is MLflow's own format: MLflow's decryption reads it back
    item = store.gateway.get_item(ak.secret_key("default", info.secret_id))
    assert decrypt(item) == {"api_key": PLAINTEXT + "2"}


def test_reads_and_errors_never_carry_the_value(store):
    info = store.create_gateway_secret("k", {"api_key": PLAINTEXT})
    shown = [
        info,
        store.get_secret_info(secret_id=info.secret_id),
        store.list_secret_infos(),
        store.update_gateway_secret(info.secret_id, secret_value={"api_key": PLAINTEXT}),
    ]
    for value in shown:
        assert "PLAINTEXT" not in repr(value) and "PLAINTEXT" not in str(value)
    try:
        store.create_gateway_secret("k", {"api_key": PLAINTEXT})
    except MlflowException as exc:
        assert "PLAINTEXT" not in str(exc) and "PLAINTEXT" not in repr(exc)
    else:
        raise AssertionError("a duplicate name must be refused")


def _requests(store, call) -> int:
    start = store.gateway.stats.total_requests
    call()
    return store.gateway.stats.total_requests - start


def test_request_counts(store):
    s = store.create_gateway_secret("k", {"api_key": PLAINTEXT}, provider="openai")
    d = store.create_gateway_model_definition("m", s.secret_id, "openai", "gpt-4o")
    config = GatewayEndpointModelConfig(
        model_definition_id=d.model_definition_id, linkage_type=GatewayModelLinkageType.PRIMARY
    )
    e = store.create_gateway_endpoint("chat", [config], usage_tracking=False)
    assert _requests(store, lambda: store.get_secret_info(secret_id=s.secret_id)) == 1
    assert _requests(store, store.list_secret_infos) == 1
    assert (
        _requests(
            store,
            lambda: store.get_gateway_model_definition(model_definition_id=d.model_definition_id),
        )
        == 2
    )
    assert _requests(store, store.list_gateway_model_definitions) == 2
    # the endpoint with its models and tags, the definitions, their secret
    assert _requests(store, lambda: store.get_gateway_endpoint(endpoint_id=e.endpoint_id)) == 3
    assert _requests(store, store.list_gateway_endpoints) == 3
    assert _requests(store, store.list_endpoint_bindings) == 1
    assert _requests(store, store.list_gateway_guardrails) == 1
    assert _requests(store, store.list_budget_policies) == 1
    # the endpoint's items (its guardrail configs among them); no guardrail to fetch
    assert _requests(store, lambda: store.list_endpoint_guardrail_configs(e.endpoint_id)) == 1


def test_racing_creates_of_one_name_have_one_winner(store_uri):
    """Two servers (two stores) create the same secret, definition and endpoint names at
    once: the name guards' conditional writes let exactly one of each through."""
    from concurrent.futures import ThreadPoolExecutor

    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    stores = [DynamoDBTrackingStore(store_uri, "s3://bucket/a") for _ in range(4)]

    def race(call):
        def attempt(s):
            try:
                return call(s)
            except MlflowException as exc:
                return exc.error_code

        with ThreadPoolExecutor(len(stores)) as pool:
            return list(pool.map(attempt, stores))

    secrets = race(lambda s: s.create_gateway_secret("shared", {"api_key": PLAINTEXT}))
    winners = [r for r in secrets if not isinstance(r, str)]
    assert len(winners) == 1
    assert sorted(r for r in secrets if isinstance(r, str)) == ["RESOURCE_ALREADY_EXISTS"] * 3
    secret_id = winners[0].secret_id
    definitions = race(
        lambda s: s.create_gateway_model_definition("m", secret_id, "openai", "gpt-4o")
    )
    assert sum(not isinstance(r, str) for r in definitions) == 1
    definition = stores[0].get_gateway_model_definition(name="m")
    config = GatewayEndpointModelConfig(
        model_definition_id=definition.model_definition_id,
        linkage_type=GatewayModelLinkageType.PRIMARY,
    )
    endpoints = race(lambda s: s.create_gateway_endpoint("chat", [config], usage_tracking=False))
    assert sum(not isinstance(r, str) for r in endpoints) == 1
    assert len(stores[0].list_secret_infos()) == 1
    assert len(stores[0].list_gateway_endpoints()) == 1
    # the losers' attachments were not counted: one detach-free delete of the endpoint
    # frees the definition
    stores[0].delete_gateway_endpoint(stores[0].list_gateway_endpoints()[0].endpoint_id)
    stores[0].delete_gateway_model_definition(definition.model_definition_id)
