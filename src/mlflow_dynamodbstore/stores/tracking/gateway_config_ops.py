"""What the AI gateway needs to invoke an endpoint: its complete configuration with the
secrets decrypted (MLflow's ``GatewayEndpointConfig``), as MLflow's SQL-only
``mlflow.store.tracking.gateway.config_resolver`` builds it from SQL tables. The server's
gateway routes reach these methods through ``ai_gateway/mlflow_patch.py``.

Server side only: nothing here is exposed through a REST route or ``MlflowClient``; the
plaintext goes from MLflow's ``_decrypt_secret`` into the config and from there only to
the provider (and, encrypted, into MLflow's ``SecretCache``).
"""

from __future__ import annotations

import json

from mlflow.entities.gateway_endpoint import GatewayModelLinkageType

from mlflow_dynamodbstore.compat.gateway import GatewayEndpointConfig, GatewayModelConfig
from mlflow_dynamodbstore.repositories.ai_gateway import entities
from mlflow_dynamodbstore.repositories.ai_gateway.endpoints import Endpoint
from mlflow_dynamodbstore.repositories.ai_gateway.secrets import decrypt
from mlflow_dynamodbstore.stores.tracking.gateway_secret_ops import not_found


class GatewayConfigOps:
    """Mixed into DynamoDBTrackingStore with the other gateway mixins (``ai_endpoints``,
    ``ai_model_definitions``, ``ai_secrets``, ``ai_bindings``) and ``_conn``."""

    @property
    def secret_cache(self):
        """MLflow's ``SecretCache`` (the SQL store's name and kind), one per process and
        table: decrypted configs kept encrypted in memory for the TTL
        (``MLFLOW_SERVER_SECRETS_CACHE_TTL``, default 60 s)."""
        return self._conn.gateway_secret_cache()

    def _invalidate_secret_cache(self) -> None:
        """After a change to a secret, definition, endpoint or binding (where the SQL store
        clears its cache): this process forgets every cached config. Other processes keep
        theirs until the TTL ends, as SQL-backed servers do."""
        self._conn.clear_gateway_secret_cache()

    def get_gateway_endpoint_config(self, endpoint_name: str) -> GatewayEndpointConfig:
        """``config_resolver.get_endpoint_config``: the endpoint's config, cached as the
        SQL store caches it (key ``endpoint_config:<workspace>:<name>``)."""
        cache_key = f"endpoint_config:{self.gateway.scope}:{endpoint_name}"
        if cached := self.secret_cache.get(cache_key):
            return GatewayEndpointConfig.from_dict(cached)
        found = self.ai_endpoints.get_by_name(endpoint_name)
        if found is None:
            raise not_found("GatewayEndpoint", name=endpoint_name)
        config = self._endpoint_config(found, with_tracking=True)
        self.secret_cache.set(cache_key, config.to_dict())
        return config

    def get_gateway_resource_endpoint_configs(
        self, resource_type: str, resource_id: str
    ) -> list[GatewayEndpointConfig]:
        """``config_resolver.get_resource_endpoint_configs``: the configs of the endpoints a
        resource (e.g. a scorer) is bound to. Not cached, as on the SQL store."""
        bindings = [
            b
            for b in self.ai_bindings.list()
            if b["resource_type"] == resource_type and b["resource_id"] == resource_id
        ]
        configs = []
        for binding in bindings:
            found = self.ai_endpoints.get(binding["endpoint_id"])
            if found is None:
                raise not_found("GatewayEndpoint", endpoint_id=binding["endpoint_id"])
            # the SQL resolver leaves experiment and usage tracking out of these
            configs.append(self._endpoint_config(found, with_tracking=False))
        return configs

    def _endpoint_config(self, found: Endpoint, *, with_tracking: bool) -> GatewayEndpointConfig:
        ids = {m["model_definition_id"] for m in found.mappings}
        definitions = self.ai_model_definitions.many(ids) if ids else {}
        secret_ids = {d.get("secret_id") for d in definitions.values()} - {None}
        secrets = self.ai_secrets.many(secret_ids) if secret_ids else {}
        models = []
        for mapping in found.mappings:
            definition = definitions.get(mapping["model_definition_id"])
            if definition is None:
                raise not_found(
                    "GatewayModelDefinition", model_definition_id=mapping["model_definition_id"]
                )
            # a definition whose secret was deleted has none (SQL's ON DELETE SET NULL): skipped
            secret = secrets.get(definition.get("secret_id"))
            if secret is None:
                continue
            models.append(
                GatewayModelConfig(
                    model_definition_id=definition["model_definition_id"],
                    provider=definition["provider"],
                    model_name=definition["model_name"],
                    secret_value=decrypt(secret),
                    auth_config=json.loads(secret["auth_config"])
                    if secret.get("auth_config")
                    else None,
                    weight=float(mapping["weight"]),
                    linkage_type=GatewayModelLinkageType(mapping["linkage_type"]),
                    fallback_order=int(mapping["fallback_order"])
                    if mapping.get("fallback_order") is not None
                    else None,
                )
            )
        names = {s["secret_id"]: s["secret_name"] for s in secrets.values()}
        endpoint = entities.endpoint(found, definitions, names)
        config = GatewayEndpointConfig(
            endpoint_id=endpoint.endpoint_id,
            endpoint_name=endpoint.name,
            models=models,
            routing_strategy=endpoint.routing_strategy,
            fallback_config=endpoint.fallback_config,
        )
        if with_tracking:
            config.experiment_id = endpoint.experiment_id
            config.usage_tracking = bool(
                endpoint.usage_tracking and endpoint.experiment_id is not None
            )
        return config
