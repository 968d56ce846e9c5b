"""MCP server versions: create/get (by version, alias, latest)/search/update/delete and
version tags, with the SQL store's results and error codes."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mlflow.entities.mcp_server import MCPStatus, validate_mcp_server_name
from mlflow.entities.mcp_server_version import MCPServerVersion
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    TEMPORARILY_UNAVAILABLE,
)
from mlflow.store.entities.paged_list import PagedList
from mlflow.store.tracking import SEARCH_MAX_RESULTS_DEFAULT
from mlflow.store.tracking.mcp_server_registry.abstract_mixin import NOT_SET
from mlflow.store.tracking.mcp_server_registry.sqlalchemy_mixin import (
    _strip_server_json_icon_response_fields,
    _strip_tool_icon_response_fields,
    _validate_server_json_icon_fields,
    _validate_status_transition,
    _validate_tool_icons,
)
from mlflow.utils.semver_utils import encode_prerelease_sort_key, parse_semver
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.validation import _validate_mcp_initial_status

from mlflow_dynamodbstore.repositories.mcp_servers.common import Conflict, Missing, Taken
from mlflow_dynamodbstore.repositories.mcp_servers.entities import version_entity
from mlflow_dynamodbstore.repositories.mcp_servers.state import (
    LATEST,
    ServerState,
    dump_json,
)
from mlflow_dynamodbstore.repositories.mcp_servers.versions import VersionRepository
from mlflow_dynamodbstore.search.mcp.search import search_versions
from mlflow_dynamodbstore.stores.tracking.mcp_server_ops import server_missing, version_missing


def _connect_options_json(connect_options: Any) -> str | None:
    if connect_options is None:
        return None
    return dump_json({k: asdict(v) for k, v in connect_options.items()})


def _contention(name: str) -> MlflowException:
    return MlflowException(
        f"MCP server '{name}' was changed concurrently; retry the request",
        TEMPORARILY_UNAVAILABLE,
    )


class McpVersionOps:
    @property
    def _mcp_versions(self) -> VersionRepository:
        return VersionRepository(self.gateway)

    def _live_version_or_raise(self, name: str, version: str) -> tuple[ServerState, dict]:
        state = self._mcp_versions.state(name)
        item = state.live_version(version) if state is not None else None
        if item is None:
            raise version_missing(name, version)
        return state, item

    # ---- versions ----------------------------------------------------------------------
    def create_mcp_server_version(
        self,
        server_json: dict[str, Any],
        source: str | None = None,
        status: MCPStatus | None = None,
        tools=NOT_SET,
        created_by: str | None = None,
        connect_options=None,
    ) -> MCPServerVersion:
        name = server_json.get("name")
        version = server_json.get("version")
        if not name or not version:
            raise MlflowException(
                "server_json must contain 'name' and 'version' keys",
                error_code=INVALID_PARAMETER_VALUE,
            )
        validate_mcp_server_name(name)
        server_json = _strip_server_json_icon_response_fields(server_json)
        _validate_server_json_icon_fields(server_json)
        parsed = parse_semver(version, param_name="server_json.version")
        status = status or MCPStatus.DRAFT
        _validate_mcp_initial_status(status)
        tools = None if tools is NOT_SET else _strip_tool_icon_response_fields(tools)
        _validate_tool_icons(tools)
        fields = {
            "major": parsed.major,
            "minor": parsed.minor,
            "patch": parsed.patch,
            "prerelease_key": encode_prerelease_sort_key(parsed),
            "server_json": dump_json(server_json),
            "status": status.value,
            "tools": dump_json(None if tools is None else [t.to_dict() for t in tools]),
            "source": source,
            "connect_options": _connect_options_json(connect_options),
        }
        try:
            item = self._mcp_versions.create(
                name, version, fields, created_by, get_current_time_millis()
            )
        except Taken:
            raise MlflowException(
                f"MCP server version '{name}' version '{version}' already exists",
                error_code=RESOURCE_ALREADY_EXISTS,
            ) from None
        except Conflict:
            raise _contention(name) from None
        return version_entity(item, None)

    def get_mcp_server_version(self, name: str, version: str) -> MCPServerVersion:
        state, item = self._live_version_or_raise(name, version)
        return version_entity(item, state)

    def get_mcp_server_version_by_alias(self, name: str, alias: str) -> MCPServerVersion:
        if alias == LATEST:
            return self.get_latest_mcp_server_version(name)
        state = self._mcp_versions.state(name)
        if state is None or alias not in state.aliases:
            raise MlflowException(
                f"Alias '{alias}' not found for MCP server '{name}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        target = state.aliases[alias]
        item = state.live_version(target)
        if item is None:
            raise version_missing(name, target)
        return version_entity(item, state)

    def get_latest_mcp_server_version(self, name: str) -> MCPServerVersion:
        state = self._mcp_versions.state(name)
        if state is None:
            raise server_missing(name)
        latest = state.latest()
        if latest is None:
            raise MlflowException(
                f"No resolved latest version found for MCP server '{name}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            )
        return version_entity(latest, state)

    def search_mcp_server_versions(
        self,
        name: str,
        filter_string: str | None = None,
        max_results: int = SEARCH_MAX_RESULTS_DEFAULT,
        order_by: list[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[MCPServerVersion]:
        state = self._mcp_versions.state(name)
        rows, token = search_versions(state, filter_string, max_results, order_by, page_token)
        return PagedList([version_entity(r, state) for r in rows], token)

    def update_mcp_server_version(
        self,
        name: str,
        version: str,
        status: MCPStatus | None = NOT_SET,
        tools=NOT_SET,
        last_updated_by: str | None = None,
        connect_options=NOT_SET,
    ) -> MCPServerVersion:
        if tools is not NOT_SET:
            tools = _strip_tool_icon_response_fields(tools)
            _validate_tool_icons(tools)
        repo = self._mcp_versions
        _, current = self._live_version_or_raise(name, version)
        if status is None:
            raise MlflowException.invalid_parameter_value(
                "status cannot be null; omit the field to leave it unchanged"
            )
        changes: dict[str, Any] = {}
        if status is not NOT_SET:
            _validate_status_transition(MCPStatus(current["status"]), status)
            changes["status"] = status.value
        if tools is not NOT_SET:
            changes["tools"] = dump_json(None if tools is None else [t.to_dict() for t in tools])
        if connect_options is not NOT_SET:
            changes["connect_options"] = _connect_options_json(connect_options)
        changes["last_updated_by"] = last_updated_by
        fields = {k: v for k, v in changes.items() if v is not None}
        fields["last_updated_at"] = get_current_time_millis()
        try:
            repo.update(name, current, fields, [k for k, v in changes.items() if v is None])
        except Conflict:
            raise _contention(name) from None
        state = repo.state(name)
        if status is not NOT_SET and state is not None:
            self._drop_unresolvable_latest_endpoints(state)
        return version_entity(state.versions[version], state)

    def _drop_unresolvable_latest_endpoints(self, state: ServerState) -> None:
        """The SQL store deletes "latest" endpoints once latest resolves to nothing."""
        if state.latest() is None:
            stale = [e for e in state.endpoints if e.get("server_alias") == LATEST]
            self._mcp_versions.delete_endpoints(stale)

    def delete_mcp_server_version(self, name: str, version: str) -> None:
        repo = self._mcp_versions
        state = repo.state(name)
        current = state.versions.get(version) if state is not None else None
        if current is None:
            raise version_missing(name, version)
        _validate_status_transition(MCPStatus(current["status"]), MCPStatus.DELETED)
        aliases = state.alias_names(version)
        endpoints = [
            e
            for e in state.endpoints
            if e.get("server_version") == version or e.get("server_alias") in aliases
        ]
        try:
            repo.delete(name, current, get_current_time_millis(), aliases, endpoints)
        except Conflict:
            raise _contention(name) from None
        after = repo.state(name)
        if after is not None:
            self._drop_unresolvable_latest_endpoints(after)

    # ---- version tags ------------------------------------------------------------------
    def set_mcp_server_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        # One transaction: the tag, with a check that its version is live.
        try:
            self._mcp_versions.set_tag(name, version, key, value)
        except Missing:
            raise version_missing(name, version) from None

    def delete_mcp_server_version_tag(self, name: str, version: str, key: str) -> None:
        repo = self._mcp_versions
        item = repo.version_item(name, version)
        if item is None or item["status"] == MCPStatus.DELETED.value:
            raise version_missing(name, version)
        try:
            repo.delete_tag(name, version, key)
        except Missing:
            raise MlflowException(
                f"Tag '{key}' not found on MCP server version '{name}' version '{version}'",
                error_code=RESOURCE_DOES_NOT_EXIST,
            ) from None
