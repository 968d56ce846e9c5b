"""MCP registry items as MLflow entities, built as the SQL store's ``to_mlflow_entity``
builds them (its icon and description fallbacks to the latest version's server.json)."""

from __future__ import annotations

from mlflow.entities.mcp_access_endpoint import MCPAccessEndpoint
from mlflow.entities.mcp_server import MCPRemoteTransportType, MCPServer, MCPStatus, MCPTool
from mlflow.entities.mcp_server_version import ConnectOptionSettings, MCPServerVersion
from mlflow.store.tracking.dbmodels.models import _resolve_mcp_server_icons

from mlflow_dynamodbstore.repositories.mcp_servers.state import Item, ServerState, load_json


def _int(value) -> int | None:
    return None if value is None else int(value)


def version_entity(item: Item, state: ServerState | None) -> MCPServerVersion:
    tools = load_json(item.get("tools"))
    version = item["version"]
    tags = dict(state.version_tags.get(version, {})) if state is not None else {}
    return MCPServerVersion(
        name=item["name"],
        version=version,
        server_json=load_json(item["server_json"]),
        status=MCPStatus(item["status"]),
        tools=None if tools is None else [MCPTool.from_dict(t) for t in tools],
        aliases=state.alias_names(version) if state is not None else [],
        tags=tags,
        connect_options={
            k: ConnectOptionSettings(**v)
            for k, v in (load_json(item.get("connect_options")) or {}).items()
        },
        source=item.get("source"),
        workspace=item.get("workspace"),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
        creation_timestamp=_int(item.get("created_at")),
        last_updated_timestamp=_int(item.get("last_updated_at")),
    )


def endpoint_entity(
    item: Item, resolved: Item | None, state: ServerState | None
) -> MCPAccessEndpoint:
    return MCPAccessEndpoint(
        id=item["endpoint_id"],
        server_name=item["server_name"],
        url=item["url"],
        transport_type=MCPRemoteTransportType(item["transport_type"]),
        server_version=item.get("server_version"),
        server_alias=item.get("server_alias"),
        resolved_version=None if resolved is None else version_entity(resolved, state),
        workspace=item.get("workspace"),
        created_by=item.get("created_by"),
        last_updated_by=item.get("last_updated_by"),
        creation_timestamp=_int(item.get("created_at")),
        last_updated_timestamp=_int(item.get("last_updated_at")),
    )


def server_entity(state: ServerState, *, resolve: bool = True) -> MCPServer:
    """The server with its tags, aliases, resolving endpoints and resolved latest version;
    ``resolve=False`` is the bare row (what the SQL store returns from a create)."""
    server = state.server
    latest = state.latest() if resolve else None
    parent_json = load_json(latest["server_json"]) if latest is not None else None
    description = server.get("description")
    if description is None and parent_json is not None:
        description = parent_json.get("description")
    icons = _resolve_mcp_server_icons(
        load_json(server.get("icons")),
        parent_json.get("icons") if parent_json is not None else None,
    )
    endpoints = (
        [endpoint_entity(e, v, state) for e, v in state.resolved_endpoints()] if resolve else []
    )
    return MCPServer(
        name=server["name"],
        display_name=server.get("display_name"),
        description=description,
        icons=icons,
        workspace=server.get("workspace"),
        status=MCPStatus(latest["status"]) if latest is not None else None,
        tags=dict(state.tags),
        aliases=dict(state.aliases),
        access_endpoints=endpoints,
        latest_version=latest["version"] if latest is not None else None,
        created_by=server.get("created_by"),
        last_updated_by=server.get("last_updated_by"),
        creation_timestamp=_int(server.get("created_at")),
        last_updated_timestamp=_int(server.get("last_updated_at")),
    )
