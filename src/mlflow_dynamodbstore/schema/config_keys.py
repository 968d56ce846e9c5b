"""Keys of the table's config item: one item above every workspace."""

from __future__ import annotations

CONFIG_PK = "CONFIG"
SETTINGS_SK = "SETTINGS"


def settings_key() -> dict[str, str]:
    return {"PK": CONFIG_PK, "SK": SETTINGS_SK}
