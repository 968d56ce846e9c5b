"""Store settings: index patterns, full-text fields and retention policies.

``settings.py`` is the contract every feature reads (``Connection.settings.current()``);
where the values come from (environment, config items in the table) is behind it.
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
