"""MCP access endpoints: create/get/search/update/delete, with the SQL store's target
checks (a live version, a stored alias to a live version, or "latest") and error codes."""

from __future__ import annotations

import uuid

from mlflow.entities.mcp_access_endpoint import MCPAccessEndpoint
from mlflow.entities.mcp_server import MCPRemoteTransportType
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.store.tracking.mcp_server_registry.abstract_mixin import NOT_SET
from mlflow.store.tracking.mcp_server_registry.sqlalchemy_mixin import (
    _validate_exactly_one,
    _validate_mcp_access_endpoint_url,
)
from mlflow.utils.time import get_current_time_millis

from mlflow_dynamodbstore.repositories.mcp_servers.common import Conflict, Item, Missing
from mlflow_dynamodbstore.repositories.mcp_servers.endpoints import EndpointRepository
from mlflow_dynamodbstore.repositories.mcp_servers.entities import endpoint_entity
from mlflow_dynamodbstore.repositories.mcp_servers.state import DELETED, LATEST, ServerState
from mlflow_dynamodbstore.search.mcp.search import search_endpoints
from mlflow_dynamodbstore.stores.tracking.mcp_server_ops import (
    entity_missing,
    server_missing,
    version_missing,
)


def _endpoint_missing(endpoint_id: str) -> MlflowException:
    return MlflowException(
        f"MCPAccessEndpoint {endpoint_id} not found", error_code=RESOURCE_DOES_NOT_EXIST
    )


def _not_of_server(endpoint_id: str, server_name: str) -> MlflowException:
    return MlflowException(
        f"MCPAccessEndpoint {endpoint_id} does not belong to server '{server_name}'",
        error_code=RESOURCE_DOES_NOT_EXIST,
    )


def _check_version_target(state: ServerState, version: str, verb: str) -> None:
    item = state.versions.get(version)
    if item is None:
        raise version_missing(state.name, version)
    if item["status"] == DELETED:
        raise MlflowException(
            f"Cannot {verb} MCP access endpoint to deleted "
            f"MCP server version '{state.name}' version '{version}'",
            error_code=INVALID_PARAMETER_VALUE,
        )


def _alias_target(state: ServerState, alias: str) -> str | None:
    """The SQL store's ``_get_alias_target_version_or_raise``; returns the version a stored
    alias names (None for "latest")."""
    name = state.name
    if alias == LATEST:
        if state.latest() is None:
            raise MlflowException(
                f"No resolved latest version found for MCP server '{name}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        return None
    if alias not in state.aliases:
        raise MlflowException(
            f"Alias '{alias}' not found for MCP server '{name}'",
            error_code=RESOURCE_DOES_NOT_EXIST,
        )
    version = state.aliases[alias]
    item = state.versions.get(version)
    if item is None or item["status"] == DELETED:
        what = "missing" if item is None else "deleted"
        raise MlflowException(
            f"Alias '{alias}' for MCP server '{name}' points to {what} version '{version}'",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return version


def _contention(endpoint: str) -> MlflowException:
    return MlflowException(
        f"MCP access endpoint '{endpoint}' or its target changed concurrently; retry",
        TEMPORARILY_UNAVAILABLE,
    )


class McpEndpointOps:
    @property
    def _mcp_endpoints(self) -> EndpointRepository:
        return EndpointRepository(self.gateway)

    def _endpoint_result(self, item: Item, state: ServerState | None) -> MCPAccessEndpoint:
        resolved = state.resolve_endpoint(item) if state is not None else None
        return endpoint_entity(item, resolved, state)

    def create_mcp_access_endpoint(
        self,
        server_name: str,
        url: str,
        transport_type: MCPRemoteTransportType = MCPRemoteTransportType.STREAMABLE_HTTP,
        server_version: str | None = None,
        server_alias: str | None = None,
        created_by: str | None = None,
    ) -> MCPAccessEndpoint:
        _validate_exactly_one("server_version", server_version, "server_alias", server_alias)
        _validate_mcp_access_endpoint_url(url)
        repo = self._mcp_endpoints
        state = repo.state(server_name)
        if state is None:
            raise server_missing(server_name)
        alias_target = None
        if server_version is not None:
            _check_version_target(state, server_version, "create")
        if server_alias is not None:
            alias_target = _alias_target(state, server_alias)
        now = get_current_time_millis()
        fields = {
            "endpoint_id": f"ae-{uuid.uuid4().hex}",
            "server_name": server_name,
            "url": url,
            "transport_type": transport_type.value,
            "server_version": server_version,
            "server_alias": server_alias,
            "created_by": created_by,
            "last_updated_by": created_by,
            "created_at": now,
            "last_updated_at": now,
        }
        try:
            item = repo.create(fields, alias_target)
        except Conflict:
            raise _contention(server_name) from None
        return self._endpoint_result(item, state)

    def get_mcp_access_endpoint(self, server_name: str, endpoint_id: str) -> MCPAccessEndpoint:
        repo = self._mcp_endpoints
        item = repo.get(endpoint_id)
        state = repo.state(item["server_name"]) if item is not None else None
        if item is None or state is None or state.resolve_endpoint(item) is None:
            raise _endpoint_missing(endpoint_id)
        if item["server_name"] != server_name:
            raise _not_of_server(endpoint_id, server_name)
        return self._endpoint_result(item, state)

    def search_mcp_access_endpoints(
        self,
        server_name: str | None = None,
        server_version: str | None = None,
        server_alias: str | None = None,
        filter_string: str | None = None,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MCPAccessEndpoint]:
        rows, token = search_endpoints(
            self._mcp_endpoints,
            server_name,
            server_version,
            server_alias,
            filter_string,
            max_results,
            order_by,
            page_token,
        )
        return PagedList([endpoint_entity(e, v, s) for e, v, s in rows], token)

    def _own_endpoint_or_raise(self, server_name: str, endpoint_id: str) -> Item:
        item = self._mcp_endpoints.get(endpoint_id)
        if item is None:
            raise entity_missing("MCPAccessEndpoint", id=endpoint_id)
        if item["server_name"] != server_name:
            raise _not_of_server(endpoint_id, server_name)
        return item

    def update_mcp_access_endpoint(
        self,
        server_name: str,
        endpoint_id: str,
        server_version: str | None = NOT_SET,
        server_alias: str | None = NOT_SET,
        url: str | None = NOT_SET,
        transport_type: MCPRemoteTransportType | None = NOT_SET,
        last_updated_by: str | None = None,
    ) -> MCPAccessEndpoint:
        if (
            server_version is not NOT_SET
            and server_alias is not NOT_SET
            and server_version is not None
            and server_alias is not None
        ):
            raise MlflowException(
                "Cannot set both server_version and server_alias in a single update",
                error_code=INVALID_PARAMETER_VALUE,
            )
        repo = self._mcp_endpoints
        current = self._own_endpoint_or_raise(server_name, endpoint_id)
        state = repo.state(server_name)
        if state is None:
            raise self._gone(endpoint_id)
        fields: Item = {}
        alias_target = None
        if server_version is not NOT_SET and server_version is not None:
            _check_version_target(state, server_version, "update")
            fields.update(server_version=server_version, server_alias=None)
        if server_alias is not NOT_SET and server_alias is not None:
            alias_target = _alias_target(state, server_alias)
            fields.update(server_alias=server_alias, server_version=None)
        elif "server_alias" not in fields and current.get("server_alias") not in (None, LATEST):
            alias_target = state.aliases.get(current["server_alias"])
        if url is not NOT_SET:
            if url is None:
                raise MlflowException(
                    "MCP access endpoint url cannot be None", error_code=INVALID_PARAMETER_VALUE
                )
            _validate_mcp_access_endpoint_url(url)
            fields["url"] = url
        if transport_type is not NOT_SET and transport_type is not None:
            fields["transport_type"] = transport_type.value
        fields["last_updated_by"] = last_updated_by
        fields["last_updated_at"] = get_current_time_millis()
        try:
            item = repo.replace(current, fields, alias_target)
        except Conflict:
            raise _contention(endpoint_id) from None
        return self._endpoint_result(item, state)

    @staticmethod
    def _gone(endpoint_id: str) -> MlflowException:
        return entity_missing("MCPAccessEndpoint", id=endpoint_id)

    def delete_mcp_access_endpoint(self, server_name: str, endpoint_id: str) -> None:
        item = self._own_endpoint_or_raise(server_name, endpoint_id)
        try:
            self._mcp_endpoints.delete(item)
        except Missing:
            raise entity_missing("MCPAccessEndpoint", id=endpoint_id) from None
