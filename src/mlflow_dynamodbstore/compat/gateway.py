"""MLflow's AI gateway runtime pieces the store reuses (identical in MLflow 3.15 to 3.17).

``new_secret_cache`` builds the SQL store's own cache of decrypted endpoint configs with the
SQL store's own property (``SqlAlchemyGatewayStoreMixin.secret_cache``), so its TTL and size
come from MLflow's ``MLFLOW_SERVER_SECRETS_CACHE_TTL`` / ``MLFLOW_SERVER_SECRETS_CACHE_MAX_SIZE``
exactly as on the SQL store (MLflow reads them; this package does not).
"""

from __future__ import annotations

from types import SimpleNamespace

from mlflow.store.tracking._secret_cache import SecretCache
from mlflow.store.tracking.gateway.entities import GatewayEndpointConfig, GatewayModelConfig
from mlflow.store.tracking.gateway.sqlalchemy_mixin import SqlAlchemyGatewayStoreMixin

__all__ = ["GatewayEndpointConfig", "GatewayModelConfig", "SecretCache", "new_secret_cache"]


def new_secret_cache() -> SecretCache:
    """A fresh ``SecretCache`` configured as the SQL store configures its own."""
    holder = SimpleNamespace(_secret_cache=None)
    return SqlAlchemyGatewayStoreMixin.secret_cache.fget(holder)
