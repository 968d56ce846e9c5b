"""Where features read the retention policies: the connection's settings (the table's
config item reconciled with the environment; see config/), never the environment."""

from __future__ import annotations

from typing import Any

from mlflow_dynamodbstore.config import RetentionPolicy


def retention_of(connection: Any) -> RetentionPolicy:
    """The policies in force now (cheap: no request)."""
    return connection.settings.current().retention
