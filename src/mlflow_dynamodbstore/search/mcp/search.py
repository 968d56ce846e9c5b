"""search_mcp_servers, search_mcp_server_versions and search_mcp_access_endpoints: which
items to read, in which order, and where a page ends.

- Servers by name (the default order): the workspace's servers partition is read in name
  order from the token's name on, one Query page at a time, and each candidate's own
  partition is read (one Query) to resolve it; a page of n servers costs about n + 1
  requests, more only when a filter rejects servers.
- Servers by created_at / last_updated_at: the servers partition (small items) is read
  whole and sorted, then only the page's servers are resolved.
- Versions: the server's partition (one Query); endpoints: the workspace's endpoints
  partition, or the server's partition when the search names the server, plus one Query
  per server whose endpoints are on the page.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mlflow_dynamodbstore.repositories.mcp_servers.common import McpRepository
from mlflow_dynamodbstore.repositories.mcp_servers.endpoints import EndpointRepository
from mlflow_dynamodbstore.repositories.mcp_servers.servers import ServerRepository
from mlflow_dynamodbstore.repositories.mcp_servers.state import Item, ServerState
from mlflow_dynamodbstore.search.mcp import filters
from mlflow_dynamodbstore.search.mcp.order import (
    Order,
    Term,
    check_max_results,
    decode_token,
    encode_token,
    parse_order_by,
)

SERVER_MAX_RESULTS = 1000


def _int(row: Item, key: str) -> int:
    return int(row[key])


def _time_terms(get) -> dict[str, list[Term]]:
    return {
        "created_at": [Term("created_at", lambda r: get(r, "created_at"), True)],
        "last_updated_at": [Term("last_updated_at", lambda r: get(r, "last_updated_at"), True)],
    }


# ---- servers -------------------------------------------------------------------------------
def _server_attribute(state: ServerState | Item, key: str) -> Any:
    if isinstance(state, ServerState):
        if key == "status":
            latest = state.latest()
            return None if latest is None else latest["status"]
        state = state.server
    value = state.get(key)
    return int(value) if key in filters.NUMERIC and value is not None else value


def _server_tag(state: ServerState, key: str) -> tuple[bool, Any]:
    return key in state.tags, state.tags.get(key)


def _server_name(row: Item) -> str:
    return row["name"]


SERVER_COLUMNS = {
    "name": [Term("name", _server_name, True)],
    **_time_terms(_int),
}


def search_servers(
    repo: ServerRepository,
    filter_string: str | None,
    max_results: int,
    order_by: list[str] | None,
    page_token: str | None,
) -> tuple[list[ServerState], str | None]:
    check_max_results(max_results, SERVER_MAX_RESULTS)
    order = parse_order_by(order_by, SERVER_COLUMNS, [("name", SERVER_COLUMNS["name"])])
    cursor = decode_token(order, page_token)
    predicate, needs_partition = filters.server_filter(
        filter_string,
        _server_attribute,
        _server_tag,
        lambda s: bool(s.resolved_endpoints()),
    )
    if order.is_name_ascending:
        candidates = _servers_by_name(repo, cursor[0] if cursor else None, max_results + 1)
    else:
        candidates = iter(order.after(order.sort(list(repo.all_servers())), cursor))
    page: list[ServerState] = []
    for server in candidates:
        # A filter on the server item alone is checked before its partition is read.
        state = (
            ServerState.of(server, repo.partition_items(server["name"]))
            if needs_partition
            else ServerState(server)
        )
        if predicate(state):
            page.append(state)
            if len(page) > max_results:
                break
    token = None
    if len(page) > max_results:
        page = page[:max_results]
        token = encode_token(order, order.raw_key(page[-1].server))
    if not needs_partition:
        page = repo.states([s.server for s in page])
    return page, token


def _servers_by_name(repo: ServerRepository, after: str | None, batch: int) -> Iterator[Item]:
    while True:
        items, after = repo.page(after, batch)
        yield from items
        if after is None:
            return


# ---- versions ------------------------------------------------------------------------------
def _version_attribute(row: Item, key: str) -> Any:
    value = row.get(key)
    return int(value) if key in filters.NUMERIC and value is not None else value


def _semver(row: Item) -> tuple:
    return (int(row["major"]), int(row["minor"]), int(row["patch"]), row["prerelease_key"])


VERSION_COLUMNS = {
    "version": [
        Term("major", lambda r: int(r["major"]), True),
        Term("minor", lambda r: int(r["minor"]), True),
        Term("patch", lambda r: int(r["patch"]), True),
        Term("prerelease_key", lambda r: r["prerelease_key"], True),
    ],
    **_time_terms(_int),
}
_VERSION_TIE_BREAKERS = [
    ("created_at", VERSION_COLUMNS["created_at"]),
    ("version", [Term("version", lambda r: r["version"], True)]),
]


def search_versions(
    state: ServerState | None,
    filter_string: str | None,
    max_results: int,
    order_by: list[str] | None,
    page_token: str | None,
) -> tuple[list[Item], str | None]:
    check_max_results(max_results)
    order = parse_order_by(order_by, VERSION_COLUMNS, _VERSION_TIE_BREAKERS)
    cursor = decode_token(order, page_token)
    predicate = filters.version_filter(filter_string, _version_attribute, _semver)
    rows = state.live_versions() if state is not None else []
    rows = order.after(order.sort([r for r in rows if predicate(r)]), cursor)
    return _page(order, rows, max_results)


def _page(order: Order, rows: list, max_results: int, key=lambda r: r) -> tuple[list, str | None]:
    if len(rows) <= max_results:
        return rows, None
    rows = rows[:max_results]
    return rows, encode_token(order, order.raw_key(key(rows[-1])))


# ---- access endpoints ----------------------------------------------------------------------
ENDPOINT_COLUMNS = {
    "id": [Term("id", lambda r: r["endpoint_id"], True)],
    "server_name": [Term("server_name", lambda r: r["server_name"], True)],
    **_time_terms(_int),
}

Resolved = tuple[Item, Item, ServerState]  # endpoint, the version it reaches, its server


def search_endpoints(
    repo: EndpointRepository,
    server_name: str | None,
    server_version: str | None,
    server_alias: str | None,
    filter_string: str | None,
    max_results: int,
    order_by: list[str] | None,
    page_token: str | None,
) -> tuple[list[Resolved], str | None]:
    check_max_results(max_results)
    order = parse_order_by(order_by, ENDPOINT_COLUMNS, [("id", ENDPOINT_COLUMNS["id"])])
    cursor = decode_token(order, page_token)
    predicate = filters.endpoint_filter(filter_string, _endpoint_attribute)
    states = _StateCache(repo)
    if server_name is not None:
        state = states.get(server_name)
        endpoints = state.endpoints if state is not None else []
    else:
        endpoints = list(repo.all_endpoints())
    endpoints = [e for e in endpoints if _targets(e, server_version, server_alias)]
    page: list[Resolved] = []
    for endpoint in order.after(order.sort(endpoints), cursor):
        state = states.get(endpoint["server_name"])
        resolved = state.resolve_endpoint(endpoint) if state is not None else None
        if resolved is None or not predicate((endpoint, resolved)):
            continue
        page.append((endpoint, resolved, state))
        if len(page) > max_results:
            break
    return _page(order, page, max_results, key=lambda r: r[0])


def _targets(endpoint: Item, version: str | None, alias: str | None) -> bool:
    """The SQL store's branches: a version given keeps direct endpoints to it, an alias
    given keeps endpoints through it, both given keep none."""
    if version is not None and alias is not None:
        return False
    if version is not None:
        return endpoint.get("server_version") == version
    if alias is not None:
        return endpoint.get("server_alias") == alias
    return True


def _endpoint_attribute(row: tuple[Item, Item], key: str) -> Any:
    endpoint, resolved = row
    if key == "status":
        return resolved["status"]
    value = endpoint.get(key)
    return int(value) if key in filters.NUMERIC and value is not None else value


class _StateCache:
    """Each server's partition read once per search."""

    def __init__(self, repo: McpRepository):
        self.repo = repo
        self.states: dict[str, ServerState | None] = {}

    def get(self, name: str) -> ServerState | None:
        if name not in self.states:
            self.states[name] = self.repo.state(name)
        return self.states[name]
