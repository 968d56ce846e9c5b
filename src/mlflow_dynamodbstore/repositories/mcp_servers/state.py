"""One MCP server as read from the table: its item and everything in its partition, with
the SQL store's resolution rules (which version is "latest", what an endpoint points to).

The SQL store resolves these with joins at read time; here one Query of the server's
partition brings every version, alias, tag and endpoint, and the same rules run in memory.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from mlflow_dynamodbstore.schema import mcp_keys as mk

Item = dict[str, Any]

ACTIVE = "active"
DELETED = "deleted"
LATEST = "latest"


def load_json(value: Any) -> Any:
    return None if value is None else json.loads(value)


def dump_json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def semver_key(version: Item) -> tuple:
    """The SQL store's ``_version_order_by`` columns (all compared descending there)."""
    return (
        int(version["major"]),
        int(version["minor"]),
        int(version["patch"]),
        version["prerelease_key"],
        int(version["created_at"]),
        version["version"],
    )


@dataclass
class ServerState:
    server: Item
    versions: dict[str, Item] = field(default_factory=dict)  # version -> item (deleted too)
    version_tags: dict[str, dict[str, Any]] = field(default_factory=lambda: defaultdict(dict))
    tags: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> version
    endpoints: list[Item] = field(default_factory=list)  # in id order
    items: list[Item] = field(default_factory=list)  # everything in its partition, as read

    @classmethod
    def of(cls, server: Item, items: list[Item]) -> ServerState:
        state = cls(server, items=list(items))
        for item in items:
            kind = mk.server_item_kind(item["SK"])
            if kind == "version":
                state.versions[item["version"]] = item
            elif kind == "version_tag":
                state.version_tags[item["version"]][item["key"]] = item.get("value")
            elif kind == "tag":
                state.tags[item["key"]] = item.get("value")
            elif kind == "alias":
                state.aliases[item["alias"]] = item["version"]
            elif kind == "endpoint":
                state.endpoints.append(item)
        state.aliases = dict(sorted(state.aliases.items()))
        state.endpoints.sort(key=lambda e: e["endpoint_id"])
        return state

    @property
    def name(self) -> str:
        return self.server["name"]

    # ---- versions ----------------------------------------------------------------------
    def live_version(self, version: str) -> Item | None:
        item = self.versions.get(version)
        return item if item is not None and item["status"] != DELETED else None

    def live_versions(self) -> list[Item]:
        return [v for v in self.versions.values() if v["status"] != DELETED]

    def latest(self) -> Item | None:
        """Active versions first, then the highest semver (newer creation, then the higher
        version string, breaking semver ties): the SQL store's resolved latest."""
        ranked = sorted(self.live_versions(), key=semver_key, reverse=True)
        ranked.sort(key=lambda v: v["status"] != ACTIVE)  # stable: keeps semver order
        return ranked[0] if ranked else None

    def alias_names(self, version: str) -> list[str]:
        return [alias for alias, target in self.aliases.items() if target == version]

    # ---- endpoints ---------------------------------------------------------------------
    def resolve_endpoint(self, endpoint: Item) -> Item | None:
        """The live version an endpoint reaches (directly, through an alias or through
        "latest"); None when it reaches none, and the SQL store's joins drop it."""
        if endpoint.get("server_version") is not None:
            return self.live_version(endpoint["server_version"])
        alias = endpoint.get("server_alias")
        if alias is None:
            return None
        if alias == LATEST:
            return self.latest()
        target = self.aliases.get(alias)
        return None if target is None else self.live_version(target)

    def resolved_endpoints(self) -> list[tuple[Item, Item]]:
        """(endpoint, version it reaches) for the endpoints that resolve, in id order."""
        pairs = [(e, self.resolve_endpoint(e)) for e in self.endpoints]
        return [(e, v) for e, v in pairs if v is not None]
