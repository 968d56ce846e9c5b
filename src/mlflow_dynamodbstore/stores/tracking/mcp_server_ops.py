"""MCP servers: create/get/search/update/delete, server tags and aliases, with the SQL
store's results and error codes (mlflow/store/tracking/mcp_server_registry/
sqlalchemy_mixin.py)."""

from __future__ import annotations

from mlflow.entities.mcp_server import MCPServer, MCPStatus, validate_mcp_server_name
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.store.tracking.mcp_server_registry.abstract_mixin import NOT_SET
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.compat.validation import (
    _strip_mcp_icon_response_fields,
    _validate_mcp_icon_payloads,
)
from mlflow_dynamodbstore.repositories.mcp_servers.common import Missing, Taken
from mlflow_dynamodbstore.repositories.mcp_servers.entities import server_entity
from mlflow_dynamodbstore.repositories.mcp_servers.servers import ServerRepository
from mlflow_dynamodbstore.repositories.mcp_servers.state import (
    DELETED,
    LATEST,
    ServerState,
    dump_json,
)
from mlflow_dynamodbstore.search.mcp.search import search_servers


def entity_missing(entity: str, **filters: str) -> MlflowException:
    """The SQL store's ``_get_entity_or_raise`` message."""
    filter_str = ", ".join(f"{k}='{v}'" for k, v in filters.items())
    return MlflowException(f"{entity} not found ({filter_str})", RESOURCE_DOES_NOT_EXIST)


def server_missing(name: str) -> MlflowException:
    return entity_missing("MCPServer", name=name)


def version_missing(name: str, version: str) -> MlflowException:
    return MlflowException(
        f"MCP server version '{name}' version '{version}' not found",
        error_code=RESOURCE_DOES_NOT_EXIST,
    )


class McpServerOps:
    @property
    def _mcp_servers(self) -> ServerRepository:
        return ServerRepository(self.gateway)

    def _mcp_state_or_raise(self, name: str) -> ServerState:
        state = self._mcp_servers.state(name)
        if state is None:
            raise server_missing(name)
        return state

    # ---- servers -----------------------------------------------------------------------
    def create_mcp_server(
        self,
        name: str,
        description: str | None = None,
        icons=None,
        created_by: str | None = None,
    ) -> MCPServer:
        validate_mcp_server_name(name)
        icons = _strip_mcp_icon_response_fields(icons)
        _validate_mcp_icon_payloads(icons, "icons")
        try:
            item = self._mcp_servers.create(
                name,
                description=description,
                icons=icons,
                created_by=created_by,
                now=get_current_time_millis(),
            )
        except Taken:
            raise MlflowException(
                f"MCP server with name '{name}' already exists",
                error_code=RESOURCE_ALREADY_EXISTS,
            ) from None
        return server_entity(ServerState(item), resolve=False)

    def get_mcp_server(self, name: str) -> MCPServer:
        state = self._mcp_servers.state(name)
        if state is None:
            raise MlflowException(
                f"MCP server '{name}' not found", error_code=RESOURCE_DOES_NOT_EXIST
            )
        return server_entity(state)

    def search_mcp_servers(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MCPServer]:
        states, token = search_servers(
            self._mcp_servers, filter_string, max_results, order_by, page_token
        )
        return PagedList([server_entity(s) for s in states], token)

    def update_mcp_server(
        self,
        name: str,
        description: str | None = NOT_SET,
        display_name: str | None = NOT_SET,
        icons=NOT_SET,
        last_updated_by: str | None = None,
    ) -> MCPServer:
        if icons is not NOT_SET:
            icons = _strip_mcp_icon_response_fields(icons)
            _validate_mcp_icon_payloads(icons, "icons")
        changes = {"description": description, "display_name": display_name}
        if icons is not NOT_SET:
            changes["icons"] = dump_json(icons)
        changes["last_updated_by"] = last_updated_by
        fields = {k: v for k, v in changes.items() if v is not NOT_SET and v is not None}
        remove = [k for k, v in changes.items() if v is None]
        fields["last_updated_at"] = get_current_time_millis()
        try:
            self._mcp_servers.update(name, fields, remove)
        except Missing:
            raise server_missing(name) from None
        return server_entity(self._mcp_state_or_raise(name))

    def delete_mcp_server(self, name: str) -> None:
        state = self._mcp_state_or_raise(name)
        active = [v for v in state.versions.values() if v["status"] == MCPStatus.ACTIVE.value]
        if active:
            # The SQL store names the first active row it reads (no ORDER BY: SQLite walks
            # its (workspace, name, status, major DESC, minor DESC, patch DESC) index).
            first = min(
                active,
                key=lambda v: (
                    -int(v["major"]),
                    -int(v["minor"]),
                    -int(v["patch"]),
                    int(v["created_at"]),
                ),
            )["version"]
            raise MlflowException(
                f"Cannot delete MCP server '{name}' while it still has an active version "
                f"('{first}'). Delete or deactivate the active version first.",
                error_code=INVALID_PARAMETER_VALUE,
            )
        try:
            self._mcp_servers.delete(name, state.items)
        except Missing:
            raise server_missing(name) from None

    # ---- tags --------------------------------------------------------------------------
    def set_mcp_server_tag(self, name: str, key: str, value: str) -> None:
        try:
            self._mcp_servers.set_tag(name, key, value)
        except Missing:
            raise server_missing(name) from None

    def delete_mcp_server_tag(self, name: str, key: str) -> None:
        try:
            self._mcp_servers.delete_tag(name, key)
        except Missing:
            raise MlflowException(
                f"Tag '{key}' not found on MCP server '{name}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None

    # ---- aliases -----------------------------------------------------------------------
    def set_mcp_server_alias(self, name: str, alias: str, version: str) -> None:
        if alias == LATEST:
            raise MlflowException(
                "The alias name 'latest' is reserved for automatic resolution",
                error_code=INVALID_PARAMETER_VALUE,
            )
        repo = self._mcp_servers
        if repo.server_item(name) is None:
            raise server_missing(name)
        item = repo.version_item(name, version)
        if item is None:
            raise version_missing(name, version)
        if item["status"] == DELETED:
            raise MlflowException(
                f"Cannot set alias '{alias}' to deleted MCP server version "
                f"'{name}' version '{version}'",
                error_code=INVALID_PARAMETER_VALUE,
            )
        try:
            repo.set_alias(name, alias, version)
        except Missing:  # deleted (with its server, or on its own) meanwhile
            raise version_missing(name, version) from None

    def delete_mcp_server_alias(self, name: str, alias: str) -> None:
        state = self._mcp_servers.state(name)
        if state is None or alias not in state.aliases:
            raise MlflowException(
                f"Alias '{alias}' not found on MCP server '{name}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        endpoints = [e for e in state.endpoints if e.get("server_alias") == alias]
        try:
            self._mcp_servers.delete_alias(name, alias, endpoints)
        except Missing:
            raise MlflowException(
                f"Alias '{alias}' not found on MCP server '{name}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None
