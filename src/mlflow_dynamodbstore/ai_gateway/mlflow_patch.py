"""Let MLflow's AI gateway routes invoke endpoints configured in this store.

Why a patch: MLflow has no extension point for the runtime side of its gateway. Its server
routes (``mlflow/server/gateway_api.py``) call ``_validate_store(store)``, which refuses any
store that is not a ``SqlAlchemyStore`` (HTTP 500), and then
``config_resolver.get_endpoint_config(endpoint_name, store)``, which reads SQL tables through
``store.ManagedSessionMaker`` and caches in ``store.secret_cache``;
``get_resource_endpoint_configs`` is its sibling for bound resources. Everything else the
routes ask of the store is public store API this package implements
(``list_gateway_endpoints``, ``list_budget_policies``, ``sum_gateway_trace_cost``,
``list_endpoint_guardrail_configs``, ``resolve_endpoint_in_scorer``; traces go through
MLflow's tracing to the tracking store).

The seam is therefore those three functions and nothing else. ``install()`` (called from
``plugin.py``, which every MLflow process imports early) registers MLflow's own post-import
hooks; once a module is imported its functions are wrapped so that, **only when the store is
a ``DynamoDBTrackingStore``**, ``_validate_store`` accepts it and the two resolvers answer with
the store's ``get_gateway_endpoint_config`` / ``get_gateway_resource_endpoint_configs`` (the
same ``GatewayEndpointConfig`` entities, secrets decrypted with MLflow's own helpers, cached in
MLflow's own ``SecretCache``). Any other store goes to MLflow's original function, unchanged.
``gateway_api`` binds ``get_endpoint_config`` by name when it is imported; the resolver's hook
runs first (gateway_api's import of it triggers it), and ``_rebind`` covers the other order.

The wrapped functions have the same names, signatures and behaviour in MLflow 3.15, 3.16 and
3.17 (compared file by file). On any other release, or if one of them is missing, nothing is
patched and a warning says so: invoking then fails as MLflow fails it for a non-SQL store
(HTTP 500 "Gateway endpoints are only available with SqlAlchemyStore"), never half-patched.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

_logger = logging.getLogger(__name__)

SUPPORTED_MLFLOW_MINORS = frozenset({(3, 15), (3, 16), (3, 17)})
RESOLVER_MODULE = "mlflow.store.tracking.gateway.config_resolver"
GATEWAY_API_MODULE = "mlflow.server.gateway_api"
_PATCHED = "__mlflow_dynamodbstore_patched__"


def install() -> None:
    """Register the post-import hooks (idempotent; cheap: nothing is imported here)."""
    from mlflow.utils.import_hooks import register_post_import_hook

    register_post_import_hook(patch_config_resolver, RESOLVER_MODULE)
    register_post_import_hook(patch_gateway_api, GATEWAY_API_MODULE)


def is_dynamodb_store(store: Any) -> bool:
    # imported at call time: this module is loaded with ``import mlflow``, the store later
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    return isinstance(store, DynamoDBTrackingStore)


def _mlflow_minor() -> tuple[int, int] | None:
    from mlflow_dynamodbstore.compat import MLFLOW_RELEASE

    return MLFLOW_RELEASE.major, MLFLOW_RELEASE.minor


def _applicable(module: Any, *names: str) -> bool:
    missing = [n for n in names if not callable(getattr(module, n, None))]
    if _mlflow_minor() in SUPPORTED_MLFLOW_MINORS and not missing:
        return True
    _logger.warning(
        "mlflow-dynamodbstore: %s is left unpatched (MLflow %s; supported: %s; missing: %s), "
        "so AI gateway endpoints cannot be invoked on dynamodb:// stores.",
        module.__name__,
        ".".join(map(str, _mlflow_minor() or ("?",))),
        ", ".join(f"{a}.{b}" for a, b in sorted(SUPPORTED_MLFLOW_MINORS)),
        ", ".join(missing) or "none",
    )
    return False


def _is_patched(function: Any) -> bool:
    return getattr(function, _PATCHED, False)


def patch_config_resolver(resolver: Any) -> None:
    names = ("get_endpoint_config", "get_resource_endpoint_configs", "_get_store")
    if _is_patched(resolver.get_endpoint_config) or not _applicable(resolver, *names):
        return
    original_endpoint = resolver.get_endpoint_config
    original_resource = resolver.get_resource_endpoint_configs

    @functools.wraps(original_endpoint)
    def get_endpoint_config(endpoint_name: str, store: Any = None) -> Any:
        store = resolver._get_store() if store is None else store
        if is_dynamodb_store(store):
            return store.get_gateway_endpoint_config(endpoint_name)
        return original_endpoint(endpoint_name=endpoint_name, store=store)

    @functools.wraps(original_resource)
    def get_resource_endpoint_configs(
        resource_type: str, resource_id: str, store: Any = None
    ) -> Any:
        store = resolver._get_store() if store is None else store
        if is_dynamodb_store(store):
            return store.get_gateway_resource_endpoint_configs(resource_type, resource_id)
        return original_resource(resource_type=resource_type, resource_id=resource_id, store=store)

    for wrapper in (get_endpoint_config, get_resource_endpoint_configs):
        setattr(wrapper, _PATCHED, True)
    resolver.get_endpoint_config = get_endpoint_config
    resolver.get_resource_endpoint_configs = get_resource_endpoint_configs
    _rebind(GATEWAY_API_MODULE, "get_endpoint_config", original_endpoint, get_endpoint_config)


def patch_gateway_api(gateway_api: Any) -> None:
    if _is_patched(gateway_api._validate_store) or not _applicable(
        gateway_api, "_validate_store", "get_endpoint_config"
    ):
        return
    original = gateway_api._validate_store

    @functools.wraps(original)
    def _validate_store(store: Any) -> None:
        if is_dynamodb_store(store):
            return None
        return original(store)

    setattr(_validate_store, _PATCHED, True)
    gateway_api._validate_store = _validate_store
    resolver = sys.modules.get(RESOLVER_MODULE)
    if resolver is not None and _is_patched(resolver.get_endpoint_config):
        gateway_api.get_endpoint_config = resolver.get_endpoint_config


def _rebind(module_name: str, attribute: str, old: Any, new: Any) -> None:
    module = sys.modules.get(module_name)
    if module is not None and getattr(module, attribute, None) is old:
        setattr(module, attribute, new)
