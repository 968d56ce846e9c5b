"""Store settings: index patterns, full-text fields and retention policies.

``settings.py`` is the contract every feature reads (``Connection.settings.current()``);
where the values come from is behind it: ``items.py`` (the table's settings item),
``reconcile.py`` (how a server's environment meets it) and ``source.py`` (the source every
connection serves, refreshed from the table).
"""

from mlflow_dynamodbstore.config.settings import (
    EnvSettingsSource,
    RetentionPolicy,
    SettingsSource,
    StoreSettings,
    settings_from_env,
)

__all__ = [
    "EnvSettingsSource",
    "RetentionPolicy",
    "SettingsSource",
    "StoreSettings",
    "settings_from_env",
]
