"""Keys of the MCP server registry (MLflow's MCP servers, versions, aliases, tags, access
endpoints).

Three kinds of partition per workspace, all on the base table (no index):

- ``WS#<ws>#MCP#SERVERS``: ``S#<name part>``, one item per server (name, display name,
  description, icons, who/when). In name order, so a listing by name is a keyset Query.
- ``WS#<ws>#MCP#S#<name part>``: what hangs off one server: ``V#<version part>`` (a
  version: server.json, status, tools, semver sort fields; deleted versions stay, with
  status ``deleted``, as in the SQL store), ``VT#<version part>#<key part>`` (a version
  tag), ``T#<key part>`` (a server tag), ``A#<alias part>`` (an alias: the version it
  names) and ``E#<endpoint id>`` (an access endpoint). One Query reads a server whole.
- ``WS#<ws>#MCP#ENDPOINTS``: ``E#<endpoint id>``, a copy of every access endpoint of the
  workspace (written in the same transaction as the server partition's), for getting one
  by id and for searching endpoints across servers in id order.

Names, versions, aliases and tag keys are key parts written ``=<text>``, or ``~<sha256>``
beyond 512 UTF-8 bytes (the items keep the text itself). A server partition holds that
server's versions: tens to hundreds, written by administrators.
"""

from __future__ import annotations

from mlflow_dynamodbstore.schema.ai_gateway_keys import plausible_id, text_part
from mlflow_dynamodbstore.schema.keys import SEP, workspace_pk

__all__ = ["plausible_id", "text_part"]

SERVER_PREFIX = f"S{SEP}"
VERSION_PREFIX = f"V{SEP}"
VERSION_TAG_PREFIX = f"VT{SEP}"
TAG_PREFIX = f"T{SEP}"
ALIAS_PREFIX = f"A{SEP}"
ENDPOINT_PREFIX = f"E{SEP}"


# ---- servers ---------------------------------------------------------------------------
def servers_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MCP{SEP}SERVERS"


def server_sk(name: str) -> str:
    return f"{SERVER_PREFIX}{text_part(name)}"


def server_key(workspace: str, name: str) -> dict[str, str]:
    return {"PK": servers_pk(workspace), "SK": server_sk(name)}


# ---- what hangs off one server -----------------------------------------------------------
def server_items_pk(workspace: str, name: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MCP{SEP}S{SEP}{text_part(name)}"


def version_key(workspace: str, name: str, version: str) -> dict[str, str]:
    return {"PK": server_items_pk(workspace, name), "SK": f"{VERSION_PREFIX}{text_part(version)}"}


def version_tag_key(workspace: str, name: str, version: str, key: str) -> dict[str, str]:
    return {
        "PK": server_items_pk(workspace, name),
        "SK": f"{VERSION_TAG_PREFIX}{text_part(version)}{SEP}{text_part(key)}",
    }


def server_tag_key(workspace: str, name: str, key: str) -> dict[str, str]:
    return {"PK": server_items_pk(workspace, name), "SK": f"{TAG_PREFIX}{text_part(key)}"}


def alias_key(workspace: str, name: str, alias: str) -> dict[str, str]:
    return {"PK": server_items_pk(workspace, name), "SK": f"{ALIAS_PREFIX}{text_part(alias)}"}


def server_endpoint_key(workspace: str, name: str, endpoint_id: str) -> dict[str, str]:
    return {"PK": server_items_pk(workspace, name), "SK": f"{ENDPOINT_PREFIX}{endpoint_id}"}


def server_item_kind(sort_key: str) -> str:
    """What an item of a server partition is: version, version_tag, tag, alias, endpoint."""
    for prefix, kind in (
        (VERSION_TAG_PREFIX, "version_tag"),
        (VERSION_PREFIX, "version"),
        (TAG_PREFIX, "tag"),
        (ALIAS_PREFIX, "alias"),
        (ENDPOINT_PREFIX, "endpoint"),
    ):
        if sort_key.startswith(prefix):
            return kind
    return "unknown"


# ---- the workspace's endpoints -----------------------------------------------------------
def endpoints_pk(workspace: str) -> str:
    return f"{workspace_pk(workspace)}{SEP}MCP{SEP}ENDPOINTS"


def endpoint_sk(endpoint_id: str) -> str:
    return f"{ENDPOINT_PREFIX}{endpoint_id}"


def endpoint_key(workspace: str, endpoint_id: str) -> dict[str, str]:
    return {"PK": endpoints_pk(workspace), "SK": endpoint_sk(endpoint_id)}
